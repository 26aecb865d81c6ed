"""``AvatarSession``: a ZEGO digital human, through dh-gateway, as an AgentSession's voice."""

from __future__ import annotations

from typing import Any, Unpack

from livekit import rtc
from livekit.agents import AgentSession, ErrorEvent, get_job_context
from livekit.agents.voice.avatar import AvatarSession as BaseAvatarSession

from .audio_output import DHGatewayAudioOutput
from .errors import DHGatewayError
from .log import logger
from .options import OutputOptions


class AvatarSession(BaseAvatarSession[Any]):
    """The avatar of one dh-gateway task speaks an AgentSession's audio::

        avatar = dhgateway.AvatarSession(task_id="my-task")  # or DHGW_TASK_ID
        await avatar.start(session)                           # before session.start(...)

    :meth:`start` makes a :class:`DHGatewayAudioOutput` the session's audio output. The
    avatar does not join the LiveKit room (ZEGO streams it), so no ``room`` is needed; one
    given is ignored. A drive's failure is logged and emitted as the session's ``error``
    event (``ErrorEvent.error``: a :class:`~livekit.plugins.dhgateway.DHGatewayStatusError`
    or ``DHGatewayConnectionError``, with the gateway's ``code`` and ``reason``). In a job,
    the job's shutdown closes it; elsewhere call :meth:`aclose`.

    The arguments are :class:`~livekit.plugins.dhgateway.OutputOptions`.
    """

    def __init__(self, **options: Unpack[OutputOptions]) -> None:
        super().__init__()
        self._session: AgentSession[Any] | None = None
        self.audio_output = DHGatewayAudioOutput(on_error=self._on_drive_error, **options)

    @property
    def avatar_identity(self) -> str:
        """The avatar's name: ``dhgateway:<task id>`` (it is no participant of the room)."""
        return f"dhgateway:{self.audio_output.task_id}"

    @property
    def provider(self) -> str:
        return "dh-gateway"

    async def start(self, agent_session: AgentSession[Any], room: rtc.Room | None = None) -> None:
        """Make the avatar the session's audio output (wrappers such as the transcript
        synchroniser of a started session stay in place)."""
        job_ctx = get_job_context(required=False)
        if job_ctx is not None:
            job_ctx.add_shutdown_callback(self.aclose)
        self._session = agent_session
        agent_session.output.replace_audio_tail(self.audio_output)
        logger.debug("avatar session started", extra={"task_id": self.audio_output.task_id})

    async def aclose(self) -> None:
        """End the drives still going and close the channel."""
        await self.audio_output.aclose()
        self._session = None
        await super().aclose()

    def _on_drive_error(self, error: DHGatewayError) -> None:
        if self._session is not None:
            self._session.emit("error", ErrorEvent(error=error, source=self.audio_output))
