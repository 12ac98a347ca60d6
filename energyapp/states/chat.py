"""State of /dashboard: the sidebar of conversations, the transcript and the composer.

Streaming runs as a background event: the turn is saved first, then tokens are batched into
`LiveAnswerState` about every `stream_flush_ms` (one small websocket delta per batch, never
per token), and the finished message joins `ChatState.messages` once. The gate resolved the
caller before each handler; a stream stops if its tab stops belonging to the session that started
it (logout, revocation).
"""

from __future__ import annotations

import asyncio
import time

import reflex as rx
from reflex.event import EventSpec

from energyapp.domain.errors import DATABASE_UNAVAILABLE, ServiceError
from energyapp.services import chat, conversations, limits
from energyapp.services.chat import Delta, Finished, Turn
from energyapp.services.conversations import ConversationView, MessageView
from energyapp.services.limits import clip
from energyapp.services.outages import database_unavailable
from energyapp.services.policy import Access
from energyapp.services.validation import id_or_none as _as_id
from energyapp.services.views import local_time
from energyapp.settings import get_settings
from energyapp.states.gate import caller, gated, still_bound

STATUS_NOTES = {
    "stopped": "Respuesta detenida. Lo escrito hasta ese momento quedó guardado.",
    "error": "La respuesta no se completó por un error del modelo.",
    "interrupted": "La respuesta se interrumpió porque el servidor se reinició.",
    "streaming": "Respuesta en curso…",
}


def _clock(iso_value: str) -> str:
    return local_time(iso_value, "%d-%m %H:%M")


def message_row(view: MessageView, note: str | None = None) -> dict[str, str]:
    return {
        "id": str(view.id),
        "role": view.role,
        "content": view.content,
        "status": view.status,
        "note": note if note is not None else STATUS_NOTES.get(view.status, ""),
        "time": _clock(view.created_at),
    }


def conversation_row(view: ConversationView) -> dict[str, str]:
    return {"id": str(view.id), "title": view.title, "time": _clock(view.updated_at)}


class LiveAnswerState(rx.State):
    """Only the live bubble reads these. A delta carries a var's whole value, so the growing
    answer is split: `frozen` holds finished paragraphs (sent once per paragraph), `tail` the
    paragraph being written (sent at each flush)."""

    active: rx.Field[bool] = rx.field(False)
    waiting: bool = False  # "escribiendo…" from sending until the first token
    frozen: rx.Field[str] = rx.field("")
    tail: rx.Field[str] = rx.field("")

    def _begin(self) -> None:
        self.active, self.waiting, self.frozen, self.tail = True, True, "", ""

    def _end(self) -> None:
        self.active, self.waiting, self.frozen, self.tail = False, False, "", ""

    def _append(self, chunk: str) -> None:
        tail = self.tail + chunk
        fences_before = self.frozen.count("```")
        cut = tail.rfind("\n\n")
        # Freeze up to the last paragraph break outside a code block (even fence count).
        while cut != -1 and (fences_before + tail[:cut].count("```")) % 2:
            cut = tail.rfind("\n\n", 0, cut)
        if cut != -1:
            self.frozen += tail[: cut + 2]
            tail = tail[cut + 2 :]
        self.tail = tail
        self.waiting = False


class ChatState(rx.State):
    conversations: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    search: str = ""
    list_loaded: bool = False
    active_id: rx.Field[int] = rx.field(0)  # 0: a new conversation, not saved yet
    active_title: str = ""
    messages: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    messages_loading: bool = False
    # Kept in the tab's sessionStorage too: what the user is typing survives a server that dies
    # mid-answer (its last state may not have reached Redis) and comes back with the next
    # hydration. Sign-out clears it (Clear-Site-Data).
    draft: rx.Field[str] = rx.field(rx.SessionStorage("", name="energyapp_draft"))
    error: rx.Field[str] = rx.field("")
    sending: bool = False
    rename_value: str = ""
    max_chars: rx.Field[int] = rx.field(0)
    drawer_open: bool = False  # the conversation list on phones
    models: rx.Field[list[str]] = rx.field(
        default_factory=list
    )  # filled only when settings allow choosing
    model: str = ""

    _stop_requested: bool = False
    _inflight_text: str = ""  # what is being sent now: a double click is ignored quietly

    # --- loading ------------------------------------------------------------------------------
    @gated(Access.user)
    async def load(self) -> EventSpec | None:
        """on_load, after the guard: the sidebar, and the open conversation if still ours."""
        resolved = caller()
        settings = get_settings()
        self.max_chars = settings.max_message_chars
        self.model = self.model or settings.ollama_model
        self.models = await chat.model_choices()  # none unless choosing is allowed
        await self._reload_list(resolved.user.id)
        if self.active_id and self.sending:
            # A reconnect after the host running this tab's answer died (another host now):
            # nothing streams any more once the saved answer reads as interrupted.
            try:
                _view, saved = await asyncio.to_thread(
                    conversations.get_with_messages, resolved.user.id, self.active_id
                )
            except ServiceError:  # no longer ours (reassigned, deleted)
                saved = []
            if not any(m.status == "streaming" for m in saved):
                self.sending = False
                (await self.get_state(LiveAnswerState))._end()
        if self.active_id and not self.sending:
            return ChatState.open_conversation(str(self.active_id))
        return None

    async def _reload_list(self, user_id: int) -> None:
        views = await asyncio.to_thread(
            conversations.list_for_user,
            user_id,
            search=self.search,
            limit=get_settings().conversations_page_size,
        )
        self.conversations = [conversation_row(v) for v in views]
        self.list_loaded = True

    @gated(Access.user)
    async def set_search(self, value: str) -> EventSpec | None:
        self.search = clip(value, limits.SEARCH)
        resolved = caller()
        await self._reload_list(resolved.user.id)
        return None

    @gated(Access.user)
    def set_model(self, value: str) -> None:
        self.model = clip(value, limits.MODEL)

    @gated(Access.user)
    def set_drawer_open(self, value: bool) -> None:
        self.drawer_open = bool(value)

    @gated(Access.user)
    def close_drawer(self) -> None:
        self.drawer_open = False

    @gated(Access.user)
    def set_draft(self, value: str) -> None:
        self.draft = clip(value, limits.MESSAGE_INPUT)  # over the limit is refused on send

    @gated(Access.user)
    def new_conversation(self) -> None:
        if self.sending:
            self.error = "Espera a que termine la respuesta o detenla antes de cambiar."
            return
        self.active_id, self.active_title, self.messages, self.error = 0, "", [], ""

    @gated(Access.user)
    async def open_conversation(self, conversation_id: str) -> EventSpec | None:
        resolved = caller()
        target = _as_id(conversation_id)
        if self.sending and target != self.active_id:
            self.error = "Espera a que termine la respuesta o detenla antes de cambiar."
            return None
        if target is None:
            return None
        self.messages_loading, self.error = True, ""
        try:
            view, messages = await asyncio.to_thread(
                conversations.get_with_messages, resolved.user.id, target
            )
        except ServiceError as exc:
            self.active_id, self.messages, self.error = 0, [], exc.message
            await self._reload_list(resolved.user.id)
            return None
        finally:
            self.messages_loading = False
        self.active_id, self.active_title = view.id, view.title
        self.rename_value = view.title
        self.messages = [message_row(m) for m in messages]
        return None

    # --- sending and streaming ----------------------------------------------------------------
    @gated(Access.user, background=True)
    async def send_message(self, form: dict | None = None):  # noqa: ANN201 - event generator
        async with self:
            if isinstance(form, dict) and "draft" in form:
                self.draft = clip(form["draft"], limits.MESSAGE_INPUT)
            if self.sending:
                if self.draft.strip() != self._inflight_text:  # not just a double click
                    self.error = "Espera a que termine la respuesta actual o detenla."
                return
            resolved = caller()
            try:
                text = chat.clean_message(self.draft)
            except ServiceError as exc:
                self.error = exc.message  # the draft stays as the user wrote it
                return
            self.sending, self.error, self._inflight_text = True, "", text
            user_id, conversation_id = resolved.user.id, self.active_id or None
            login_key = resolved.binding_key
            requested_model = self.model
            (await self.get_state(LiveAnswerState))._begin()
        try:
            model = await chat.resolve_model(requested_model)
            turn = await asyncio.to_thread(chat.start_turn, user_id, conversation_id, text, model)
        except Exception as exc:  # noqa: BLE001 - re-raised unless a refusal or an outage
            await self._not_started(exc, login_key)  # the draft stays as the user wrote it
            return
        async with self:
            if not await still_bound(self, login_key):
                return await self._stream(turn, user_id, login_key)  # saved, shown to nobody
            self.draft = ""  # saved: only now may the composer forget it
            self.active_id, self.active_title = turn.conversation_id, turn.title
            self.rename_value = turn.title
            self.messages = [*self.messages, message_row(turn.user_message)]
            self._stop_requested = False
            await self._reload_list(user_id)
        await self._stream(turn, user_id, login_key)

    @gated(Access.user, background=True)
    async def regenerate(self):  # noqa: ANN201 - event generator
        """A new answer to the last message (also the "Reintentar" action after an error)."""
        async with self:
            if self.sending or not self.active_id:
                return
            resolved = caller()
            self.sending, self.error, self._stop_requested = True, "", False
            user_id, conversation_id = resolved.user.id, self.active_id
            login_key = resolved.binding_key
            (await self.get_state(LiveAnswerState))._begin()
        try:
            turn = await asyncio.to_thread(chat.start_regeneration, user_id, conversation_id)
        except Exception as exc:  # noqa: BLE001 - re-raised unless a refusal or an outage
            await self._not_started(exc, login_key)
            return
        await self._stream(turn, user_id, login_key)

    async def _not_started(self, error: Exception, login_key: str) -> None:
        """A turn that could not start: say why in Spanish, unless the tab changed hands."""
        if not isinstance(error, ServiceError) and not database_unavailable(error):
            raise error
        message = error.message if isinstance(error, ServiceError) else DATABASE_UNAVAILABLE
        async with self:
            if await still_bound(self, login_key):
                self.sending, self.error = False, message
                (await self.get_state(LiveAnswerState))._end()

    async def _stream(self, turn: Turn, user_id: int, login_key: str) -> None:
        # Deltas already come one per paced Ollama read (a tick of `stream_flush_ms`); each is
        # flushed unless the previous flush was under half a tick ago (two reads can straddle a
        # tick's edge): then it rides with the next one.
        min_gap = get_settings().stream_flush_ms / 1000 / 2
        pending: list[str] = []
        received: list[str] = []  # shown from memory if the database cannot give it back
        outcome: Finished | None = None
        last_flush = 0.0  # the first token is shown at once
        stream = chat.answer(turn)
        try:
            async for event in stream:
                if not isinstance(event, Delta):
                    outcome = event
                    break
                pending.append(event.text)
                received.append(event.text)
                if time.monotonic() - last_flush < min_gap:
                    continue
                async with self:
                    if not await still_bound(self, login_key):
                        break  # signed out meanwhile: the tab was reset; the answer is saved
                    (await self.get_state(LiveAnswerState))._append("".join(pending))
                    stop = self._stop_requested
                pending.clear()
                last_flush = time.monotonic()
                if stop:
                    break
        finally:
            await stream.aclose()  # an early exit saves the partial answer as "stopped"
        await self._show_final(turn, user_id, login_key, outcome, "".join(received))

    async def _show_final(
        self, turn: Turn, user_id: int, login_key: str, outcome: Finished | None, received: str = ""
    ) -> None:
        unsaved = chat.unsaved(outcome)  # the database went away: it is saved once back
        final = None
        if not unsaved:
            try:
                _view, saved = await asyncio.to_thread(
                    conversations.get_with_messages, user_id, turn.conversation_id
                )
                final = next(m for m in saved if m.id == turn.assistant_message_id)
            except (ServiceError, StopIteration):  # deleted meanwhile
                final = None
            except Exception as error:
                if not database_unavailable(error):
                    raise
                unsaved = True
        note = None
        if unsaved:  # the live answer ends with what arrived and the Spanish message
            final, note = chat.unsaved_view(turn, outcome, received), DATABASE_UNAVAILABLE
        elif outcome is not None and outcome.error is not None:
            note = outcome.error.message
        async with self:
            if not await still_bound(self, login_key):
                return  # the tab was reset for another session: show it nothing
            (await self.get_state(LiveAnswerState))._end()
            if (
                final is not None
                and turn.conversation_id == self.active_id
                and all(m["id"] != str(final.id) for m in self.messages)
            ):  # not reloaded
                self.messages = [*self.messages, message_row(final, note)]
            self.sending = False
            try:
                await self._reload_list(user_id)
            except Exception as error:
                if not database_unavailable(error):
                    raise  # else the list stays as it was; the next load refreshes it

    @gated(Access.user)
    def stop(self) -> None:
        """Stop button: the stream ends at its next flush and keeps what was written."""
        if self.sending:
            self._stop_requested = True

    # --- managing conversations ------------------------------------------------------------
    @gated(Access.user)
    def set_rename_value(self, value: str) -> None:
        self.rename_value = clip(value, limits.TITLE_INPUT)

    @gated(Access.user)
    async def rename(self, form: dict | None = None) -> EventSpec | None:
        resolved = caller()
        if isinstance(form, dict) and "title" in form:
            self.rename_value = clip(form["title"], limits.TITLE_INPUT)
        if not self.active_id:
            return None
        try:
            view = await asyncio.to_thread(
                conversations.rename, resolved.user.id, self.active_id, self.rename_value
            )
        except ServiceError as exc:
            self.error = exc.message
            return None
        self.active_title, self.error = view.title, ""
        await self._reload_list(resolved.user.id)
        return None

    @gated(Access.user)
    async def delete_active(self) -> EventSpec | None:
        resolved = caller()
        if not self.active_id or self.sending:
            return None
        try:
            await asyncio.to_thread(
                conversations.delete_conversation, resolved.user.id, self.active_id
            )
        except ServiceError as exc:
            self.error = exc.message
            return None
        self.active_id, self.active_title, self.messages = 0, "", []
        await self._reload_list(resolved.user.id)
        return rx.toast.success("Conversación eliminada.")
