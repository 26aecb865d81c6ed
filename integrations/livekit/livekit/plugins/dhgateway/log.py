"""The plugin's logger, registered with LiveKit's plugin list."""

import logging

logger = logging.getLogger("livekit.plugins.dhgateway")
