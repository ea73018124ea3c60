"""Launch the Latent Explorer: python launch.py [--host 127.0.0.1] [--port 7860] [--checkpoints DIR]
[--auth USER:PASS] [--audience] [--share] [--data-root DIR] [--allow-data DIR ...] [--server-render]"""
from __future__ import annotations

import argparse
import signal
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Latent Explorer: see inside a GAN in your browser.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; "
                   "0.0.0.0 serves your local network, e.g. a workshop)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--checkpoints", help="folder of models (default $LATENT_EXPLORER_CHECKPOINTS or ./checkpoints)")
    p.add_argument("--auth", help="USER:PASS required to open the page")
    p.add_argument("--audience", action="store_true", help="participants' view: no training, no filesystem paths")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--data-root", help="where the Train tab finds datasets (default $LATENT_EXPLORER_DATA or "
                   "~/.cache/latent-explorer)")
    p.add_argument("--allow-data", action="append", default=[], metavar="DIR",
                   help="a folder whose image folders the Train tab may train on, besides the data root "
                   "(repeatable; never used in --audience mode)")
    p.add_argument("--server-render", action="store_true",
                   help="draw every frame on the server instead of in the browser (the page runs the generator "
                   "itself by default, with the bundled onnxruntime-web)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            print("error: --auth must look like USER:PASS", file=sys.stderr)
            return 2
        auth = (user, password)
    from explorer.ui import CSS, build_app, launch_limits, log_requests_refused, start_queue
    demo = build_app(args.checkpoints, audience=args.audience, data_root=args.data_root,
                     allowed_data=args.allow_data, server_render=args.server_render)
    start_queue(demo)
    log_requests_refused()
    # show_error: a malformed request (wrong arity, a string for a number) gets Gradio's own sentence rather than
    # {"error": null}; participants (--audience) get only the app's own messages, which never carry paths
    # a service manager's stop (SIGTERM) ends the app as Ctrl-C does: Gradio closes the server first (requests in
    # flight end), then the scratch folder goes, so nothing is written into it after it was removed
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(server_name=args.host, server_port=args.port, auth=auth, share=args.share, css=CSS,
                    footer_links=["api"], show_error=not args.audience, **launch_limits(demo))
    finally:
        demo.close()
        demo.explorer_context.renderer.close()
    return 0


def _interrupt(*_):
    raise KeyboardInterrupt


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except ModuleNotFoundError as e:   # started with a Python that lacks the dependencies (not the venv)
        from explorer.errors import missing_dependency
        print(missing_dependency(e), file=sys.stderr)
        raise SystemExit(2) from None
