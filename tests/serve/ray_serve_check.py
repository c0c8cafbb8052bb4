"""The Ray Serve wrapper of docs/serving.md, checked on Ray's local cluster (this machine).

Ray is not a dependency of this project and the test suite does not install it; this script is run by hand in an
environment that has it (``pip install "ray[serve]"`` next to this package with its ``serve`` extra):

    python tests/serve/ray_serve_check.py

It builds the tiny served model of the serve tests with four adapters (bottleneck, LoRA, prefix tuning, tagging),
deploys ``adapters.serve.create_app`` as a Ray Serve deployment with two replicas (each builds its own engine: the
app is made by a builder function on the replica, as the docs show), sends every request to Ray's HTTP proxy and
checks each answer against the same application run in this process. Exit code 0 when all agree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: tiny_models

import serving  # noqa: E402

ADAPTERS = {
    "sentiment": serving.CLASSIFY,
    "topic": serving.TOPIC,
    "prefix": serving.PREFIX,
    "ner": serving.TAGGING,
}
TEXTS = ("Great.", "A dull, predictable film.", "Ann Smith flew from Berlin to Paris on Monday.")


def builder(base: Path, folders: dict[str, Path]):
    """The function Ray calls on each replica to make its ASGI application."""

    def build_app():
        from adapters.serve import Engine, create_app

        engine = Engine.from_pretrained(str(base))
        for name, folder in folders.items():
            engine.load(name, str(folder))
        return create_app(engine)

    return build_app


def main() -> int:
    import httpx
    import ray
    from fastapi.testclient import TestClient
    from ray import serve

    root = Path(tempfile.mkdtemp(prefix="ray-serve-check-"))
    base = serving.tiny_base(root / "base")
    folders = serving.save_adapters(base, root / "adapters", ADAPTERS)
    port = serving.free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        server = serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 1})(
            serve.ingress(builder(base, folders))(type("AdapterServer", (), {}))
        )
        serve.run(server.bind(), route_prefix="/")
        bodies = [{"adapter": name, "text": text} for name in ADAPTERS for text in TEXTS]
        with (
            TestClient(builder(base, folders)()) as local,
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as ray_http,
        ):
            assert ray_http.get("/health").status_code == 200
            listed = ray_http.get("/adapters").json()
            assert listed == local.get("/adapters").json(), listed
            checked = 0
            for body in bodies * 3:  # several rounds: both replicas answer
                got, expected = ray_http.post("/predict", json=body), local.post("/predict", json=body)
                assert got.status_code == 200, got.text
                assert serving.same_answer(got.json(), expected.json(), tol=1e-5), (body, got.json(), expected.json())
                checked += 1
            missing = ray_http.post("/predict", json={"adapter": "nope", "text": "hi"})
            assert missing.status_code == 404, missing.text
        print(f"ray {ray.__version__}: {checked} answers from 2 Ray Serve replicas equal the local application's")
        return 0
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
