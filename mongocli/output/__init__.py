"""Output: the injected Environment and renderers for every result kind."""

from mongocli.output.environment import Environment
from mongocli.output.renderers import (EJSON_MODES, FORMATS, JsonLinesRenderer, JsonRenderer, PrettyRenderer,
                                       Renderer, TableRenderer, make_renderer)

__all__ = ["EJSON_MODES", "FORMATS", "Environment", "JsonLinesRenderer", "JsonRenderer", "PrettyRenderer",
           "Renderer", "TableRenderer", "make_renderer"]
