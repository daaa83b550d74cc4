"""The interactive shell (REPL): parser, evaluator, meta-commands, completion, prompt_toolkit app."""
