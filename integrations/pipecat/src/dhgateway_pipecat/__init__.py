"""pipecat service for dh-gateway: a ZEGOCLOUD digital human speaks the bot's TTS.

Put :class:`DHGatewayAvatarService` right after the TTS in a pipeline::

    avatar = DHGatewayAvatarService(task_id="my-task")  # or DHGW_TASK_ID, DHGW_ADDRESS...
    pipeline = Pipeline([transport.input(), stt, user_agg, llm, tts, avatar, assistant_agg])
"""

from dhgateway_pipecat.reports import DHGatewayTurnMetricsData
from dhgateway_pipecat.service import DHGatewayAvatarService, DHGatewayAvatarSettings

__all__ = ["DHGatewayAvatarService", "DHGatewayAvatarSettings", "DHGatewayTurnMetricsData"]
