"""The service layer: calls into driver/ and returns plain results; no click, rich or prompt_toolkit.

Import the submodule you need (`from mongocli.service.data import find`): nothing is imported
here, so a command pays only for what it uses (start-up, issue 12).
"""
