"""The Modelfile language: parse, check and format Ollama Modelfiles.

    >>> import modelfile
    >>> m = modelfile.parse('from llama3\\nparameter temperature 0.7\\n')
    >>> modelfile.format(m)
    'FROM llama3\\nPARAMETER temperature 0.7\\n'
    >>> modelfile.resolve(m).parameters
    {'temperature': 0.699999988079071}

Pure: no I/O beyond ``parse_file`` reading the path it is given and the parser caching its
tables in the user cache folder (see ``grammar``). Lark is imported on the first parse.
"""

from .check import (
    Diagnostic,
    Recipe,
    analyse,
    check,
    instruction_json,
    is_valid_requires,
    resolve,
    warning_at,
)
from .encoding import decode
from .errors import (
    ModelfileEncodingError,
    ModelfileError,
    ModelfileInvalid,
    ModelfileSyntaxError,
)
from .format import format, format_instruction, quote
from .parameters import DEPRECATED, PARAMETERS, ParameterValue, ParamType
from .parser import COMMANDS, parse, parse_file
from .syntax import (
    ROLES,
    BlankLine,
    Comment,
    Instruction,
    Item,
    Kind,
    Message,
    Modelfile,
    Parameter,
    Position,
)

__all__ = [
    "COMMANDS",
    "DEPRECATED",
    "PARAMETERS",
    "ROLES",
    "BlankLine",
    "Comment",
    "Diagnostic",
    "Instruction",
    "Item",
    "Kind",
    "Message",
    "Modelfile",
    "ModelfileEncodingError",
    "ModelfileError",
    "ModelfileInvalid",
    "ModelfileSyntaxError",
    "ParamType",
    "Parameter",
    "ParameterValue",
    "Position",
    "Recipe",
    "analyse",
    "check",
    "decode",
    "format",
    "format_instruction",
    "instruction_json",
    "is_valid_requires",
    "parse",
    "parse_file",
    "quote",
    "resolve",
    "warning_at",
]
