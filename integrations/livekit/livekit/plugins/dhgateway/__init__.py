"""dh-gateway plugin for LiveKit Agents: a ZEGO digital human speaks the agent's voice.

::

    from livekit.plugins import dhgateway

    avatar = dhgateway.AvatarSession(task_id="my-task")  # the rest from DHGW_* variables
    await avatar.start(session)                           # then session.start(...)

See ``integrations/livekit/README.md``.
"""

from livekit.agents import Plugin

from .audio_output import DHGatewayAudioOutput
from .avatar import AvatarSession
from .errors import (
    DHGatewayConnectionError,
    DHGatewayError,
    DHGatewayStatusError,
    DHGatewayTimeoutError,
)
from .log import logger
from .options import OutputOptions
from .version import __version__

__all__ = [
    "AvatarSession",
    "DHGatewayAudioOutput",
    "DHGatewayConnectionError",
    "DHGatewayError",
    "DHGatewayStatusError",
    "DHGatewayTimeoutError",
    "OutputOptions",
    "__version__",
]


class DHGatewayPlugin(Plugin):
    """This plugin's entry in LiveKit's list of plugins."""

    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__ or __name__, logger)


Plugin.register_plugin(DHGatewayPlugin())
