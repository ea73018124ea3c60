"""The server around the Blocks: what anyone on a workshop network may send it, what it sends back, and how it
keeps running for days. launch.py and the tests launch through here, so both get the same server."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import gradio as gr
from gradio import route_utils
from gradio.route_utils import FnIndexInferError

from explorer.checks import MAX_PIXELS  # noqa: F401  (importing checks sets Pillow's decompression-bomb limit)
from explorer.services.pixels import sweep_folder

log = logging.getLogger("explorer.requests")

CACHE_SWEEP_S = 10            # Gradio's file cache is swept this often, by age and by count:
CACHE_MAX_AGE_S = 1800
CACHE_MAX_FILES = 2000

QUEUE_IDLE_POLL_S = 0.005      # how often an idle queue looks for work (Gradio: 1 ms)
PROGRESS_POLL_S = 0.05         # how often progress bars are refreshed (Gradio: 10 ms, even with none shown)

SESSIONS_KEPT = 2000           # pages whose state is kept (Gradio: 10,000, at about 270 KB each here)
ANALYTICS_KEPT = 1000          # Gradio's per-event timing records kept (Gradio: 10,000)

# The server's folders as they travel on the wire (see PathTokens)
TOKENS = {"cache": "~cache", "scratch": "~scratch"}


def launch_limits(demo: gr.Blocks) -> dict:
    """What demo.launch gets besides host and port: uploads are refused above a few MB (Gradio's own default is
    no limit, so anyone reaching the port could fill the disk; nothing in the app uploads more than one
    picture); an unknown API name gets a 404 with a sentence; the server's folders never appear in a response
    (PathTokens); the state of at most SESSIONS_KEPT pages is kept (the least recently used goes first). A fresh dict each time: Gradio writes into app_kwargs when it builds the app."""
    from starlette.middleware import Middleware
    folders = {TOKENS["cache"]: demo.GRADIO_CACHE}
    ctx = getattr(demo, "explorer_context", None)
    if ctx is not None:
        folders[TOKENS["scratch"]] = str(ctx.renderer.scratch)
    return {"max_file_size": "5mb", "state_session_capacity": SESSIONS_KEPT,
            "app_kwargs": {"exception_handlers": {FnIndexInferError: _unknown_endpoint},
                           "middleware": [Middleware(PathTokens, folders=folders)]}}


def _unknown_endpoint(request, exc):
    """An API name or function number that does not exist: a 404 with a sentence (Gradio answers 500 and logs
    a traceback)."""
    from fastapi.responses import JSONResponse
    what = str(exc).rsplit(":", 1)[-1].strip()
    log.info("refused %s: no such API endpoint (%s)", request.url.path, what)
    return JSONResponse({"error": f"no such API endpoint ({what}); the page's 'Use via API' link lists them"},
                        status_code=404)


def _get_fn_or_refuse(blocks, api_name, body):
    """route_utils.get_fn, but an unknown fn_index is refused like an unknown API name (Gradio raises KeyError,
    which the web framework turns into a 500 and a traceback)."""
    try:
        return _gradio_get_fn(blocks, api_name, body)
    except KeyError:
        raise FnIndexInferError(f"Could not find function number: {body.fn_index}") from None


_gradio_get_fn = route_utils.get_fn
route_utils.get_fn = _get_fn_or_refuse


def readable_calls(demo: gr.Blocks) -> None:
    """A call with too few values, or a value its component cannot take (text for a slider), is refused with
    one sentence naming the endpoint, shown to the caller in every mode and logged as one line. Gradio raises
    a plain exception there: the caller sees {"error": null} (or "the upstream app has raised an exception")
    and the log a traceback."""
    preprocess = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        name = block_fn.api_name or block_fn.name
        if len(inputs) < len(block_fn.inputs):
            raise _refusal(name, f"takes {len(block_fn.inputs)} values, got {len(inputs)}")
        try:
            return await preprocess(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as err:   # a component's own preprocess refused the value
            for i, (block, value) in enumerate(zip(block_fn.inputs, inputs)):
                if _refuses(block, value):
                    raise _refusal(name, f"value {i + 1} ({_shown(value)}) is not what a "
                                         f"{block.get_block_name()} takes") from None
            raise _refusal(name, f"its values do not fit ({type(err.__cause__ or err).__name__})") from None

    demo.preprocess_data = preprocess_data


def _refuses(block, value) -> bool:
    try:
        block.preprocess(value)
        return False
    except Exception:
        return True


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refusal(endpoint: str, what: str) -> gr.Error:
    log.info("refused %s: %s", endpoint, what)
    return gr.Error(f"{endpoint}: {what}", print_exception=False)


class PathTokens:
    """ASGI middleware: the server's own folders travel as tokens. In every JSON, HTML and event-stream response
    the folder's path (Gradio's file cache, the scratch folder the page's runtime is served from) becomes its
    token (~cache, ~scratch), so no response names where the server keeps its files (a picture's URL reads
    gradio_api/file=~cache/<hash>/x.png); a request for such a URL, or a JSON body naming a token (a picture
    sent back as an input), gets the real path again before Gradio sees it. Placed inside Gradio's compression,
    so it reads plain text."""

    REWRITTEN = (b"application/json", b"text/html", b"text/event-stream")

    def __init__(self, app, folders: dict[str, str]):
        self.app = app
        pairs = set()
        for token, folder in folders.items():
            for form in {str(folder).rstrip("/"), str(Path(folder).resolve()).rstrip("/")}:
                pairs.add((form, token))
        # the longest path first, so a folder inside another is replaced whole
        self.out = sorted(((f.encode(), t.encode()) for f, t in pairs), key=lambda p: -len(p[0]))
        self.back = [(t.encode(), str(Path(f).resolve()).encode()) for t, f in folders.items()]

    def hide(self, data: bytes) -> bytes:
        for real, token in self.out:
            data = data.replace(real, token)
        return data

    def reveal(self, data: bytes) -> bytes:
        for token, real in self.back:
            data = data.replace(token + b"/", real + b"/")
        return data

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"].encode()
        if b"~" in path:
            scope = dict(scope, path=self.reveal(path).decode(), raw_path=self.reveal(scope.get("raw_path", path)))
        headers = dict(scope.get("headers") or [])
        if scope["method"] == "POST" and headers.get(b"content-type", b"").startswith(b"application/json"):
            receive = await self._revealed_body(scope, receive)
        await self.app(scope, receive, self._hiding(send))

    async def _revealed_body(self, scope, receive):
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message])
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = self.reveal(b"".join(chunks))
        scope["headers"] = [(k, str(len(body)).encode() if k == b"content-length" else v)
                            for k, v in scope["headers"]]
        return _replay([{"type": "http.request", "body": body, "more_body": False}], then=receive)

    def _hiding(self, send):
        state = {"start": None, "mode": None, "chunks": []}

        async def hiding_send(message):
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                if not kind.startswith(self.REWRITTEN):
                    state["mode"] = "pass"
                elif kind.startswith(b"text/event-stream"):
                    state["mode"] = "stream"
                else:
                    state["mode"] = "whole"
                if state["mode"] == "whole":
                    state["start"] = message
                    return
                if state["mode"] == "stream":
                    message = dict(message, headers=[(k, v) for k, v in message["headers"] if k != b"content-length"])
                return await send(message)
            if message["type"] != "http.response.body" or state["mode"] == "pass":
                return await send(message)
            if state["mode"] == "stream":
                return await send(dict(message, body=self.hide(message.get("body", b""))))
            state["chunks"].append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = self.hide(b"".join(state["chunks"]))
            start = state["start"]
            headers = [(k, str(len(body)).encode() if k == b"content-length" else v) for k, v in start["headers"]]
            await send(dict(start, headers=headers))
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return hiding_send


def _replay(messages, then=None):
    async def receive():
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


def start_queue(demo: gr.Blocks, concurrency: int = 2) -> gr.Blocks:
    """demo.queue(...) with gentler idle polls. Gradio's queue wakes every 1 ms while it has nothing to do and
    its progress loop every 10 ms, about 6 % of a core here with no page open; slider moves no longer travel
    through the queue (the page draws them), so 5 ms and 50 ms cost nothing a user sees and leave the CPU to
    the work. (Private attributes of Gradio 6's queue: left alone if a later Gradio renames them.)"""
    demo.queue(default_concurrency_limit=concurrency)
    queue = getattr(demo, "_queue", None)
    for attr, floor in (("sleep_when_free", QUEUE_IDLE_POLL_S), ("progress_update_sleep_when_free", PROGRESS_POLL_S)):
        if isinstance(getattr(queue, attr, None), float):
            setattr(queue, attr, max(getattr(queue, attr), floor))
    if isinstance(getattr(queue, "ANALYTICS_MAX_EVENTS", None), int):   # per-event timing records (10,000)
        queue.ANALYTICS_MAX_EVENTS = min(queue.ANALYTICS_MAX_EVENTS, ANALYTICS_KEPT)
    if queue is not None and hasattr(queue, "send_message") and hasattr(queue, "pending_messages_per_session"):
        keep_message_boxes(queue)
        forget_one_shot_sessions(demo, queue)
    return demo


def forget_one_shot_sessions(demo: gr.Blocks, queue) -> None:
    """An API call with no session of its own (/call/<name>, a script's curl) gets a session made for it, and
    Gradio keeps each session's copy of every component's settings, about 270 KB in this app, until 10,000
    newer sessions push it out: a soak of 30 users grew the server by about 140 MB a minute. Such a session
    is one event long, so it is forgotten once its result is sent. (A page, and gradio_client, which keep a
    session of their own, keep it; what Gradio piles up in it is forgotten after each event: forget_aliases.)"""
    from gradio.server_messages import ProcessCompletedMessage
    send = queue.send_message

    def send_message(event, message):
        send(event, message)
        holder = getattr(demo, "state_holder", None)
        if not isinstance(message, ProcessCompletedMessage) or holder is None:
            return
        if event.session_hash == event._id:
            with holder.lock:
                holder.session_data.pop(event.session_hash, None)
                holder.time_last_used.pop(event.session_hash, None)
        else:
            session = holder.session_data.get(event.session_hash)
            if session is not None:
                forget_aliases(session, demo.blocks)

    queue.send_message = send_message


def forget_aliases(session, app_blocks) -> int:
    """Gradio 6.31 keeps a page's updated component (a dropdown given new choices) under the component's id in
    the page's session, as a new object with an id of its own; when that component is next an event's input,
    the copy is also stored under its new id, with its settings. Each update then input (pick a model, let go of
    a slider) left one more component and its settings in the session, forever: a soak of 30 users grew by about
    540 dropdowns a minute. Such a copy, reachable under the app's id, is forgotten under its own id (components
    the session made itself, under ids the app does not have, are kept). Returns how many were forgotten."""
    blocks = session.blocks_config.blocks
    items = list(blocks.items())     # one snapshot, taken without yielding to another thread
    kept = {id(b) for k, b in items if k in app_blocks}
    aliases = [k for k, b in items if k not in app_blocks and id(b) in kept]
    for k in aliases:
        blocks.pop(k, None)
        session.config_values.pop(k, None)
    return len(aliases)


def keep_message_boxes(queue) -> None:
    """Gradio 6.31 keeps each session's message box in an LRU of 2,000 that evicts by age of creation; every
    API call (/call/..., gradio_client) is a new session, so under a flood of them an open page's box was
    evicted while its event waited: its stream ended with a 404 mid-answer, or the queue's next status message
    for the event raised KeyError inside the processing loop, which stopped the queue for good (every later
    event 503; found by bench/soak.py at about 9,000 requests). Now the oldest box with nothing pending goes
    first (MessageBoxes), and a missing box is made again instead of failing."""
    from asyncio import Queue as AsyncQueue
    old = queue.pending_messages_per_session
    boxes = MessageBoxes(queue, getattr(old, "max_size", 2000))
    boxes.update(old)
    queue.pending_messages_per_session = boxes
    send = queue.send_message

    def send_message(event, message):
        boxes = queue.pending_messages_per_session
        if getattr(event, "alive", True) and event.session_hash not in boxes:
            boxes[event.session_hash] = AsyncQueue()
        send(event, message)

    queue.send_message = send_message


class MessageBoxes(OrderedDict):
    """Sessions' message boxes, at most max_size of them, the oldest idle one evicted first: a box whose
    session has an event pending (queued, running, or its answer not yet read) is kept, up to HARD_LIMIT x
    max_size boxes (past that the oldest goes whatever it holds, so callers who never read their answers
    cannot fill the memory)."""

    HARD_LIMIT = 5

    def __init__(self, queue, max_size: int):
        super().__init__()
        self.queue, self.max_size = queue, max_size

    def __setitem__(self, key, value) -> None:
        if key in self:
            self.move_to_end(key)
        elif len(self) >= self.max_size:
            self._evict()
        super().__setitem__(key, value)

    def _evict(self) -> None:
        pending = self.queue.pending_event_ids_session
        for key in self:
            if not pending.get(key):
                del self[key]
                pending.pop(key, None)   # Gradio leaves an answered session's empty set behind: one per API call
                return
        if len(self) >= self.HARD_LIMIT * self.max_size:
            self.popitem(last=False)


def bound_cache(demo: gr.Blocks) -> None:
    """A background sweep of Gradio's file cache (every picture an event returns lands there): Gradio only
    removes files older than its delete_cache age, so under load the folder grew without bound. Each sweep also
    forgets the swept files in the app's record of them (`temp_files`, which Gradio only ever adds to: one path
    per picture served)."""
    folder = Path(demo.GRADIO_CACHE)

    def sweep_forever():
        while True:
            time.sleep(CACHE_SWEEP_S)
            sweep_once(demo, folder)
    threading.Thread(target=sweep_forever, daemon=True, name="latent-explorer-cache-bound").start()


def sweep_once(demo: gr.Blocks, folder: Path) -> None:
    if folder.is_dir():
        sweep_folder(folder, CACHE_MAX_AGE_S, CACHE_MAX_FILES)
    record = getattr(demo, "temp_files", None)
    if isinstance(record, set):
        for path in list(record):          # a copy: events add to the set meanwhile
            if not os.path.exists(path):
                record.discard(path)


def log_requests_refused(stream=None) -> None:
    """The user's ordinary mistakes (a value out of range, "Pick a model first", a malformed call) as one line
    each on stderr, with no traceback (launch.py calls this; tests read the logger directly)."""
    if not log.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
