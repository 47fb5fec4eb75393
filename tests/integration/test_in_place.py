"""In-place updates on the real engine (fixtures/in-place: a non-root app, `--chown`,
`--chmod`, a `.dockerignore`): a save is copied into the running container, which restarts;
the image catches up in the background; and the file tree the container then holds is the
one a container of that image holds. A crash after an update puts back the code that served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import docker
from composeedit import add_settings
from test_session import Recorder, container_ids, fetch, make_session, served, watching

from composewatch import events as ev

URL = "http://127.0.0.1:18071/"
# Every path under the copies' destinations: name, mode, owner, size, and the content's sum.
TREE = (
    "find /srv /usr/local/bin | sort | while read -r f; do "
    'printf "%s %s " "$f" "$(stat -c "%a %u:%g %s %F" "$f")"; '
    '[ -f "$f" ] && md5sum < "$f" || echo; done'
)


def tree(client: docker.DockerClient, container: str) -> str:
    code, output = client.containers.get(container).exec_run(["sh", "-c", TREE], user="0")
    assert code == 0 and isinstance(output, bytes), output
    return output.decode()


def tree_of_image(client: docker.DockerClient, image: str) -> str:
    output = client.containers.run(image, ["sh", "-c", TREE], user="0", remove=True)
    assert isinstance(output, bytes)
    return output.decode()


def test_in_place_equals_rebuilt(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = copy_fixture("in-place")
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            assert fetch(URL) == "page v1\n"
            before = container_ids(docker_client, project_name)["web"]
            # One save: a page changed, one added, one deleted, a config and the start script.
            (project / "www" / "index.html").write_text("page v2\n")
            (project / "www" / "new.html").write_text("new page\n")
            (project / "www" / "old.html").unlink()
            (project / "conf" / "app.conf").write_text("setting=2\n")
            script = project / "start.sh"
            script.write_text(script.read_text().replace("# v1", "# v2"))
            live = await recorder.wait_for(ev.Live, "web")
            assert isinstance(live, ev.Live) and live.how == "in place", recorder.events
            assert [p for p, _ in live.timings] == ["detect", "copy", "restart", "checking"]
            assert await served(URL, "page v2\n")
            assert fetch(URL + "new.html") == "new page\n"
            # the same container, restarted: no build and no new container on the way
            assert container_ids(docker_client, project_name)["web"] == before
            builds = [e for e in recorder.of(ev.BuildStarted, "web")[1:]]
            assert all(isinstance(e, ev.BuildStarted) and e.background for e in builds)
            await recorder.wait_for(ev.ImageCaughtUp, "web", timeout_s=120)

    asyncio.run(scenario())
    running = container_ids(docker_client, project_name)["web"]
    tag = f"{project_name}-web"
    # the tag moved to the caught-up image; the container still runs the one it started from
    assert docker_client.images.get(tag).id != docker_client.containers.get(running).attrs["Image"]
    in_container, from_image = tree(docker_client, running), tree_of_image(docker_client, tag)
    assert "/srv/www/old.html" not in in_container and "/srv/www/new.html" in in_container
    assert " 1000:1001 " in in_container  # --chown=app: the user's uid and primary gid
    assert "/usr/local/bin/start.sh 755 0:0 " in in_container  # --chmod
    assert in_container == from_image


def test_a_crash_after_an_in_place_update_puts_back_the_code_that_served(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = copy_fixture("in-place")
    add_settings(project / "compose.yaml", {"services": {"web": {"health": {"timeout_s": 10}}}})
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            script = project / "start.sh"
            script.write_text("#!/bin/sh\necho 'the new start script crashed' >&2\nexit 3\n")
            rolled = await recorder.wait_for(ev.RolledBack, "web", timeout_s=60)
            assert isinstance(rolled, ev.RolledBack)
            assert rolled.reason == "container exited with code 3", rolled
            assert "the new start script crashed" in rolled.log_tail
            assert not recorder.of(ev.Live, "web")
            assert fetch(URL) == "page v1\n"  # the code that served before the save

    asyncio.run(scenario())
    running = docker_client.containers.get(container_ids(docker_client, project_name)["web"])
    assert running.status == "running"
    assert running.name == f"{project_name}-web-1"
