"""Suite-wide set-up: subprocesses under test can be interrupted with SIGINT however pytest was started."""

import signal

# A shell that starts a command in the background without job control (`pytest &` in a script,
# a CI runner) leaves SIGINT ignored, and an ignored signal stays ignored across exec: every
# `mongocli` child would then ignore the Ctrl-C our tests send it and hang until its deadline.
# Handled here, the children start with SIGINT at its default (Python's KeyboardInterrupt).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
