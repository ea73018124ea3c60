"""The server around the app, attacked from outside: malformed calls, unknown endpoints, paths in responses,
pictures that are not pictures. Loopback only, bounded in count and time."""
import io
import json
import logging
import uuid

import httpx
import numpy as np
import pytest
from PIL import Image

from explorer.checks import MAX_PIXELS, read_image
from explorer.errors import DataError
from ui_helpers import launch, plain_and_conditional


@pytest.fixture(scope="module")
def audience(tmp_path_factory):
    root = plain_and_conditional(tmp_path_factory.mktemp("server-ck"))
    demo, url = launch(root, audience=True)
    yield demo, url, root
    demo.close()


def join(url, demo, api, data, session=None):
    """One event as the page sends it (queue/join, then the stream); returns the stream's text."""
    fns = {d["api_name"]: d["id"] for d in demo.config["dependencies"]}
    session = session or uuid.uuid4().hex[:10]
    r = httpx.post(f"{url}gradio_api/queue/join", timeout=30,
                   json={"data": data, "fn_index": fns[api], "session_hash": session, "trigger_id": None})
    r.raise_for_status()
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=60) as s:
        text = ""
        for line in s.iter_lines():
            text += line + "\n"
            if '"process_completed"' in line:
                return text
    raise AssertionError("the stream ended without a result")


def call(url, api, data) -> str:
    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=30)
    r.raise_for_status()
    return httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=60).text


def test_audience_responses_name_no_folder_of_the_server(audience):
    """Everything a participant's page receives (the page, its config, the API's description, a drawn model,
    a strip, a /render) names none of the server's folders, and every picture and runtime file it points to
    is still served."""
    demo, url, root = audience
    ctx = demo.explorer_context
    folders = {demo.GRADIO_CACHE, str(ctx.renderer.scratch), str(ctx.renderer.scratch.resolve()), str(root),
               str(root.resolve())}
    session = uuid.uuid4().hex[:10]
    texts = {"page": httpx.get(url).text, "config": httpx.get(f"{url}config").text,
             "info": httpx.get(f"{url}gradio_api/info").text,
             "select": join(url, demo, "select_model", ["cond", 3, 0], session),
             "render": call(url, "render", ["cond", [0.1] * 64, 2])}
    state = json.loads(texts["select"].strip().splitlines()[-1][5:])["output"]["data"][0]
    texts["strip"] = join(url, demo, "interpolate", [state, "1, 2", False, None, None, False, False, "slerp", 4],
                          session)
    texts["sweep"] = join(url, demo, "sweep", [state, "z[0]"], session)
    for name, text in texts.items():
        for folder in folders:
            assert folder not in text, f"{name} names {folder}"
    urls = [u for text in texts.values() for u in _urls(text)]
    pictures = [u for u in urls if u.endswith((".png", ".gif"))]
    assert len(pictures) >= 3 and all("~cache/" in u for u in pictures)
    for u in pictures:
        r = httpx.get(u if u.startswith("http") else url + u, timeout=30)
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size[0] > 0
    runtime = [u for u in urls if "~scratch/" in u]
    assert runtime, "the live view's runtime is served from the scratch folder, by token"
    for u in set(runtime):                          # the runtime's folder, the model's graph and weights
        u = u.split("gradio_api/", 1)[1] + ("ort.wasm.min.js" if u.endswith("/") else "")
        assert httpx.get(f"{url}gradio_api/{u}", timeout=30).status_code == 200, u


def _urls(text: str) -> list[str]:
    import re
    return re.findall(r"(?:https?://[^\s\"'\\]+)?gradio_api/file=[^\s\"'\\]+", text)


def test_a_token_path_is_only_a_name_for_the_servers_folder(audience):
    """~cache/../ climbs nowhere: Gradio's own checks still see the real path and refuse what lies outside."""
    demo, url, root = audience
    for probe in ("~cache/../../etc/passwd", "~scratch/../../etc/passwd", "~cache/%2e%2e/%2e%2e/etc/passwd"):
        r = httpx.get(f"{url}gradio_api/file={probe}", timeout=30)
        assert r.status_code in (403, 404) and "root:" not in r.text


def test_malformed_calls_are_refused_in_a_sentence_and_logged_in_one_line(audience, caplog, capfd):
    demo, url, _ = audience
    caplog.set_level(logging.INFO, logger="explorer.requests")
    assert '"render: takes 3 values, got 0"' in call(url, "render", [])
    assert "select_model: value 3 ('x') is not what a slider takes" in call(url, "select_model", ["plain", 1, "x"])
    assert "Pick a model on the Explore tab first" in call(url, "interpolate", [None, "1, 2", False, None, None,
                                                                                False, False, "slerp", 4])
    for route in ("queue/join", "run/predict"):     # a function number that does not exist
        r = httpx.post(f"{url}gradio_api/{route}", json={"data": [], "fn_index": 999, "session_hash": "x"})
        assert r.status_code == 404 and "no such API endpoint (999)" in r.json()["error"]
    r = httpx.post(f"{url}gradio_api/call/interpolate",        # refused beside the box, before the queue
                   json={"data": [None, "1, x", False, None, None, False, False, "slerp", 4]})
    assert r.status_code == 422 and '"is_valid":false' in r.text
    lines = [r.getMessage() for r in caplog.records if r.name == "explorer.requests"]
    assert [line.split(":")[0] for line in lines] == [
        "refused render", "refused select_model", "refused interpolate", "refused /gradio_api/queue/join",
        "refused /gradio_api/run/predict", "refused a value"]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("content, why", [
    (b"", "not a picture"),
    (b"#!/bin/sh\nrm -rf /\n", "not a picture"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a picture"),
])
def test_read_image_refuses_what_is_not_a_picture(tmp_path, content, why):
    path = tmp_path / "upload.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=why):
        read_image(path, "the upload")


def test_read_image_refuses_a_bomb_a_cut_file_and_other_formats(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (5000, 4000)).save(bomb)                 # 20 Mpixels, a few KB on disk
    assert bomb.stat().st_size < 100_000 and 5000 * 4000 > MAX_PIXELS
    with pytest.raises(DataError, match="5000 x 4000 pixels"):
        read_image(bomb)
    huge = tmp_path / "huge.png"
    Image.new("1", (10000, 5000)).save(huge)                # over twice the limit: Pillow's own refusal
    with pytest.raises(DataError, match="too large"):
        read_image(huge)
    whole = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:-4000])
    with pytest.raises(DataError, match="damaged or cut short"):
        read_image(cut)
    tiff = tmp_path / "scan.tiff"
    Image.new("L", (8, 8)).save(tiff)
    with pytest.raises(DataError, match="TIFF file"):
        read_image(tiff)
    with pytest.raises(DataError, match="was not found"):
        read_image(tmp_path / "missing.png")
    assert np.array_equal(np.asarray(read_image(whole)), np.asarray(Image.open(whole)))


def test_path_tokens_reveal_what_the_page_sends_back_and_keep_lengths_right(tmp_path):
    """A picture sent back as an input (a JSON body naming ~cache/...) and a file URL reach the app with the real
    path; every JSON and event-stream reply leaves with the token, its Content-Length matching what is sent."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient
    from explorer.ui.server import PathTokens
    cache = (tmp_path / "cache").resolve()

    async def echo(request):
        body = await request.json()
        return JSONResponse({"seen_real": body["path"] == f"{cache}/a.png", "reply": f"{cache}/b.png"})

    async def stream(request):
        return StreamingResponse(iter([f"data: {cache}/c.png\n\n"]), media_type="text/event-stream")

    async def file(request):
        return JSONResponse({"seen_real": request.path_params["p"] == f"{cache}/x.png"})

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/sse", stream),
                            Route("/file={p:path}", file)],
                    middleware=[Middleware(PathTokens, folders={"~cache": str(cache)})])
    client = TestClient(app)
    r = client.post("/echo", json={"path": "~cache/a.png"})
    assert r.json() == {"seen_real": True, "reply": "~cache/b.png"}
    assert int(r.headers["content-length"]) == len(r.content)
    assert client.get("/sse").text == "data: ~cache/c.png\n\n"
    assert client.get("/file=~cache/x.png").json() == {"seen_real": True}


def test_a_one_shot_api_call_leaves_no_session_state_behind(audience):
    """Each /call/<name> gets a session made for it; Gradio kept its copy of every component's settings
    (about 270 KB here) until 10,000 newer sessions came: memory grew under a soak. A page's session stays."""
    demo, url, _ = audience
    before = set(demo.state_holder.session_data)
    for _ in range(5):
        assert "event: complete" in call(url, "render", ["plain", [0.1] * 64, None])
    assert set(demo.state_holder.session_data) == before
    session = uuid.uuid4().hex[:10]
    join(url, demo, "select_model", ["plain", 1, 0], session)
    assert session in demo.state_holder.session_data
    assert demo.state_holder.capacity == 2000 and demo._queue.ANALYTICS_MAX_EVENTS == 1000   # bounded tables


def test_a_page_that_keeps_picking_models_keeps_a_session_of_one_size(audience):
    """Gradio stored a page's updated dropdown again under the copy's own id whenever it was next an input, so
    each pick-a-model-then-new-seed left one more component and its settings in the page's session (540
    dropdowns a minute under a 30-user soak). The session holds the app's components, no more, however long
    the page is used."""
    demo, url, _ = audience
    session = uuid.uuid4().hex[:10]
    sizes = []
    for seed in range(4):
        assert '"success":true' in join(url, demo, "select_model", ["plain", seed, 0], session).replace(" ", "")
        assert '"success":true' in join(url, demo, "new_seed", [None, seed + 1, 0, "z[0]"], session).replace(" ", "")
        st = demo.state_holder.session_data[session]
        sizes.append((len(st.blocks_config.blocks), len(st.config_values)))
    assert sizes == [sizes[0]] * 4, sizes
    assert set(st.blocks_config.blocks) <= set(demo.blocks)


def test_forget_aliases_drops_only_second_names_of_the_apps_components():
    from types import SimpleNamespace
    from explorer.ui.server import forget_aliases
    app_dropdown, updated, made_by_session = object(), object(), object()
    blocks = {1: app_dropdown, 2: updated, 99: updated, 120: made_by_session}
    session = SimpleNamespace(blocks_config=SimpleNamespace(blocks=blocks),
                              config_values={1: {}, 2: {}, 99: {}, 120: {}})
    assert forget_aliases(session, app_blocks={1: None, 2: None}) == 1
    assert blocks == {1: app_dropdown, 2: updated, 120: made_by_session}
    assert set(session.config_values) == {1, 2, 120}
    assert forget_aliases(session, app_blocks={1: None, 2: None}) == 0


def test_a_flood_of_sessions_evicts_idle_message_boxes_first():
    """A page whose event waits keeps its message box however many API sessions come after it (its stream
    ended with a 404 mid-answer when Gradio's LRU evicted it); idle boxes go, oldest first; callers who never
    read their answers cannot grow the boxes past the hard limit."""
    from types import SimpleNamespace
    from explorer.ui.server import MessageBoxes
    queue = SimpleNamespace(pending_event_ids_session={"page": {"e1"}})
    boxes = MessageBoxes(queue, max_size=3)
    boxes["page"] = "page's box"
    for i in range(10):
        queue.pending_event_ids_session[f"api{i}"] = set()     # answered: Gradio keeps an empty set per session
        boxes[f"api{i}"] = i
    assert "page" in boxes and len(boxes) == 3 and list(boxes)[1:] == ["api8", "api9"]
    assert set(queue.pending_event_ids_session) == {"page", "api8", "api9"}      # evicted with their boxes
    queue.pending_event_ids_session = {f"never-read{i}": {"e"} for i in range(40)}
    for i in range(40):
        boxes[f"never-read{i}"] = i
    assert len(boxes) <= MessageBoxes.HARD_LIMIT * 3
