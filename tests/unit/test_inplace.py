"""The in-place analysis (`core.inplace`), by table: a Dockerfile, a save, and the exact copies
or the exact reason. Dockerfiles: what `docker init` writes for Python, Node, Go and Rust, the
repository's fixtures, the reference harness's fixtures (their text inline), and one case per
rule of the analysis (stages and targets, WORKDIR, globs, flags, heredocs, ARG/ENV paths)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composewatch.core.dockerparse import Unresolved, expand
from composewatch.core.inplace import Copy, InPlace, Rebuild, analyse, plan

REPO = Path(__file__).resolve().parents[2]
CTX = Path("/ctx")


def df(text: str) -> str:
    """A Dockerfile written indented in this file; its first line is line 1."""
    return textwrap.dedent(text).lstrip("\n")


def cp(rel: str, dest: str, line: int, owner: str | None = None, mode: int | None = None) -> Copy:
    return Copy(CTX / rel, dest, owner, mode, line)


def inplace(why: str, *copies: Copy) -> InPlace:
    return InPlace(tuple(copies), f"in place: {why}")


def rebuild(why: str) -> Rebuild:
    return Rebuild(f"rebuild: {why}")


@dataclass(frozen=True)
class Case:
    id: str
    dockerfile: str
    changed: tuple[str, ...]
    expect: InPlace | Rebuild
    target: str | None = None
    args: Mapping[str, str | None] = field(default_factory=dict)
    dirs: frozenset[str] = frozenset()  # changed paths that are directories
    covered: tuple[str, ...] = ()  # container paths under a bind mount or volume
    name: str = "Dockerfile"
    context: Path = CTX


# What `docker init` writes (Docker Desktop 4.2x), kept to what the analysis reads.
PYTHON_INIT = df(
    """
    # syntax=docker/dockerfile:1

    ARG PYTHON_VERSION=3.11.4
    FROM python:${PYTHON_VERSION}-slim as base

    ENV PYTHONDONTWRITEBYTECODE=1
    ENV PYTHONUNBUFFERED=1

    WORKDIR /app

    ARG UID=10001
    RUN adduser \\
        --disabled-password \\
        --gecos "" \\
        --home "/nonexistent" \\
        --shell "/sbin/nologin" \\
        --no-create-home \\
        --uid "${UID}" \\
        appuser

    RUN --mount=type=cache,target=/root/.cache/pip \\
        --mount=type=bind,source=requirements.txt,target=requirements.txt \\
        python -m pip install -r requirements.txt

    USER appuser

    COPY . .

    EXPOSE 8000

    CMD gunicorn 'app:app' --bind=0.0.0.0:8000
    """
)
NODE_INIT = df(
    """
    # syntax=docker/dockerfile:1

    ARG NODE_VERSION=20.11.0

    FROM node:${NODE_VERSION}-alpine

    ENV NODE_ENV production

    WORKDIR /usr/src/app

    RUN --mount=type=bind,source=package.json,target=package.json \\
        --mount=type=bind,source=package-lock.json,target=package-lock.json \\
        --mount=type=cache,target=/root/.npm \\
        npm ci --omit=dev

    USER node

    COPY . .

    EXPOSE 3000

    CMD node src/index.js
    """
)
GO_INIT = df(
    """
    # syntax=docker/dockerfile:1

    ARG GO_VERSION=1.21.0
    FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
    WORKDIR /src

    RUN --mount=type=cache,target=/go/pkg/mod/ \\
        --mount=type=bind,source=go.sum,target=go.sum \\
        --mount=type=bind,source=go.mod,target=go.mod \\
        go mod download -x

    ARG TARGETARCH

    RUN --mount=type=cache,target=/go/pkg/mod/ \\
        --mount=type=bind,target=. \\
        CGO_ENABLED=0 GOARCH=$TARGETARCH go build -o /bin/server .

    FROM alpine:latest AS final

    RUN --mount=type=cache,target=/var/cache/apk \\
        apk --update add \\
            ca-certificates \\
            tzdata \\
            && \\
            update-ca-certificates

    ARG UID=10001
    RUN adduser \\
        --disabled-password \\
        --uid "${UID}" \\
        appuser
    USER appuser

    COPY --from=build /bin/server /bin/

    EXPOSE 8080

    ENTRYPOINT [ "/bin/server" ]
    """
)
RUST_INIT = df(
    """
    # syntax=docker/dockerfile:1

    ARG RUST_VERSION=1.70.0
    ARG APP_NAME=myapp

    FROM rust:${RUST_VERSION}-slim-bullseye AS build
    ARG APP_NAME
    WORKDIR /app

    RUN --mount=type=bind,source=src,target=src \\
        --mount=type=bind,source=Cargo.toml,target=Cargo.toml \\
        --mount=type=bind,source=Cargo.lock,target=Cargo.lock \\
        --mount=type=cache,target=/app/target/ \\
        --mount=type=cache,target=/usr/local/cargo/registry/ \\
        <<EOF
    set -e
    cargo build --locked --release
    cp ./target/release/$APP_NAME /bin/server
    EOF

    FROM debian:bullseye-slim AS final

    ARG UID=10001
    RUN adduser --disabled-password --uid "${UID}" appuser
    USER appuser

    COPY --from=build /bin/server /bin/

    EXPOSE 8000

    CMD ["/bin/server"]
    """
)
# The reference harness's fixtures (../shared/bench-reference/fixtures), written out here.
SEED_FLASK = df(
    """
    FROM python-flask-offline:3.11
    WORKDIR /app
    COPY requirements.txt requirements.txt
    RUN pip3 install -r requirements.txt
    COPY . .
    CMD [ "python3", "-m" , "flask", "run", "--host=0.0.0.0"]
    """
)
MULTI5 = df(
    """
    FROM bb:latest
    COPY index.html /www/index.html
    CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
    """
)
# A docker-init-style app with a build target: a builder stage and a dev target.
TARGETED = df(
    """
    FROM python:3.11-slim AS base
    WORKDIR /app
    COPY requirements.txt .
    RUN pip install -r requirements.txt

    FROM base AS dev
    COPY --chown=1000:1000 . .
    CMD ["flask", "run"]

    FROM base AS prod
    COPY . .
    RUN python -m compileall .
    CMD ["gunicorn", "app:app"]
    """
)
FRONTEND = df(
    """
    FROM node:20 AS build
    WORKDIR /app
    COPY package.json package-lock.json ./
    RUN npm ci
    COPY . .
    RUN npm run build

    FROM nginx:alpine
    COPY nginx.conf /etc/nginx/conf.d/default.conf
    COPY --from=build /app/dist /usr/share/nginx/html
    """
)


def repo(path: str) -> str:
    return (REPO / path).read_text()


CASES = [
    # --- docker init: Python, Node, Go, Rust --------------------------------------------------
    Case("python-init-app", PYTHON_INIT, ("app.py",),
         inplace("COPY . . at Dockerfile:27", cp("app.py", "/app/app.py", 27))),
    Case("python-init-requirements", PYTHON_INIT, ("requirements.txt",),
         rebuild("RUN --mount=type=bind,source=requirements.txt at Dockerfile:21"
                 " reads requirements.txt")),
    Case("python-init-package-dir", PYTHON_INIT, ("pkg/views.py", "pkg/templates/a.html"),
         inplace("COPY . . at Dockerfile:27", cp("pkg/templates/a.html",
                 "/app/pkg/templates/a.html", 27), cp("pkg/views.py", "/app/pkg/views.py", 27))),
    Case("node-init-source", NODE_INIT, ("src/index.js",),
         inplace("COPY . . at Dockerfile:18",
                 cp("src/index.js", "/usr/src/app/src/index.js", 18))),
    Case("node-init-package-json", NODE_INIT, ("src/index.js", "package.json"),
         rebuild("RUN --mount=type=bind,source=package.json at Dockerfile:11 reads package.json")),
    Case("node-init-lockfile", NODE_INIT, ("package-lock.json",),
         rebuild("RUN --mount=type=bind,source=package-lock.json at Dockerfile:11"
                 " reads package-lock.json")),
    Case("go-init-source", GO_INIT, ("main.go",),
         rebuild("RUN --mount=type=bind at Dockerfile:14 in stage build reads main.go")),
    Case("go-init-go-mod", GO_INIT, ("go.mod",),
         rebuild("RUN --mount=type=bind,source=go.mod at Dockerfile:7 in stage build"
                 " reads go.mod")),
    Case("go-init-readme", GO_INIT, ("README.md",),  # the bind mount takes the whole context
         rebuild("RUN --mount=type=bind at Dockerfile:14 in stage build reads README.md")),
    Case("rust-init-source", RUST_INIT, ("src/main.rs",),
         rebuild("RUN --mount=type=bind,source=src at Dockerfile:10 in stage build"
                 " reads src/main.rs")),
    Case("rust-init-cargo-lock", RUST_INIT, ("Cargo.lock",),
         rebuild("RUN --mount=type=bind,source=Cargo.lock at Dockerfile:10 in stage build"
                 " reads Cargo.lock")),
    Case("rust-init-readme", RUST_INIT, ("README.md",),
         inplace("nothing in Dockerfile copies README.md")),
    # --- this repository's fixtures -------------------------------------------------------------
    Case("fixture-docker-init-python", repo("fixtures/docker-init-python/Dockerfile"),
         ("app.py",), inplace("COPY . . at Dockerfile:27", cp("app.py", "/app/app.py", 27))),
    Case("fixture-docker-init-python-requirements",
         repo("fixtures/docker-init-python/Dockerfile"), ("requirements.txt",),
         rebuild("RUN --mount=type=bind,source=requirements.txt at Dockerfile:21"
                 " reads requirements.txt")),
    Case("fixture-sample-flask-app", repo("sample-flask-app/Dockerfile"), ("app.py",),
         inplace("COPY . . at Dockerfile:8", cp("app.py", "/app/app.py", 8))),
    Case("fixture-sample-flask-requirements", repo("sample-flask-app/Dockerfile"),
         ("requirements.txt",),
         rebuild("RUN at Dockerfile:6 runs after COPY requirements.txt requirements.txt at"
                 " Dockerfile:5, which copies requirements.txt")),
    *[
        Case(f"fixture-bench-five-{s}", repo(f"bench/fixtures/five/{s}/Dockerfile"),
             ("www/index.html",),
             inplace("COPY www /www at Dockerfile:2", cp("www/index.html", "/www/index.html", 2)))
        for s in ("s1", "s2", "s3", "s4", "s5")
    ],
    Case("reference-seed-flask", SEED_FLASK, ("app.py",),
         inplace("COPY . . at Dockerfile:5", cp("app.py", "/app/app.py", 5))),
    Case("reference-seed-flask-requirements", SEED_FLASK, ("requirements.txt", "app.py"),
         rebuild("RUN at Dockerfile:4 runs after COPY requirements.txt requirements.txt at"
                 " Dockerfile:3, which copies requirements.txt")),
    Case("reference-multi5", MULTI5, ("index.html",),
         inplace("COPY index.html /www/index.html at Dockerfile:2",
                 cp("index.html", "/www/index.html", 2))),
    Case("reference-multi5-other-file", MULTI5, ("notes.txt",),
         inplace("nothing in Dockerfile copies notes.txt")),
    # --- stages and targets ---------------------------------------------------------------------
    Case("target-dev", TARGETED, ("app.py",),
         inplace("COPY --chown=1000:1000 . . at Dockerfile:7",
                 cp("app.py", "/app/app.py", 7, owner="1000:1000")), target="dev"),
    Case("target-dev-case-insensitive", TARGETED, ("app.py",),
         inplace("COPY --chown=1000:1000 . . at Dockerfile:7",
                 cp("app.py", "/app/app.py", 7, owner="1000:1000")), target="DEV"),
    Case("no-target-last-stage", TARGETED, ("app.py",),
         rebuild("RUN at Dockerfile:12 runs after COPY . . at Dockerfile:11, which copies app.py")),
    Case("target-parent-stage-reads", TARGETED, ("requirements.txt",),
         rebuild("COPY requirements.txt . at Dockerfile:3 in stage base reads requirements.txt"),
         target="dev"),
    Case("target-missing", TARGETED, ("app.py",),
         rebuild("Dockerfile has no stage named 'test'"), target="test"),
    Case("earlier-stage-copies-everything", FRONTEND, ("src/App.jsx",),
         rebuild("COPY . . at Dockerfile:5 in stage build reads src/App.jsx")),
    Case("earlier-stage-copies-the-final-stage-file-too", FRONTEND, ("nginx.conf",),
         rebuild("COPY . . at Dockerfile:5 in stage build reads nginx.conf")),
    Case("final-stage-config-file", FRONTEND.replace("COPY . .", "COPY src/ ./src/"),
         ("nginx.conf",),
         inplace("COPY nginx.conf /etc/nginx/conf.d/default.conf at Dockerfile:9",
                 cp("nginx.conf", "/etc/nginx/conf.d/default.conf", 9))),
    Case("stage-after-target-ignored", df(
        """
        FROM busybox AS web
        COPY site/ /www/
        FROM busybox AS bundle
        COPY --from=web /www /bundle
        RUN tar czf /bundle.tgz /bundle
        """), ("site/index.html",),
         inplace("COPY site/ /www/ at Dockerfile:2", cp("site/index.html", "/www/index.html", 2)),
         target="web"),
    Case("unused-stage-not-built", df(
        """
        FROM python:3.11 AS test
        COPY . /src
        RUN pytest /src
        FROM python:3.11
        COPY app.py /app/
        """), ("app.py",),
         inplace("COPY app.py /app/ at Dockerfile:5", cp("app.py", "/app/app.py", 5))),
    Case("copy-from-stage-by-index", df(
        """
        FROM busybox
        COPY assets/ /assets/
        FROM busybox
        COPY --from=0 /assets /www/assets
        COPY index.html /www/
        """), ("assets/logo.svg",),
         rebuild("COPY assets/ /assets/ at Dockerfile:2 in an earlier stage reads"
                 " assets/logo.svg")),
    Case("run-mount-from-stage", df(
        """
        FROM busybox AS assets
        COPY static/ /out/
        FROM python:3.11
        RUN --mount=type=bind,from=assets,source=/out,target=/tmp/out cp -r /tmp/out /static
        COPY app.py /app/
        """), ("static/site.css",),
         rebuild("COPY static/ /out/ at Dockerfile:2 in stage assets reads static/site.css")),
    Case("onbuild-in-parent-stage", df(
        """
        FROM python:3.11 AS base
        ONBUILD COPY . /app
        FROM base
        COPY app.py /srv/
        """), ("app.py",),
         rebuild("ONBUILD at Dockerfile:2 in stage base may read app.py")),
    Case("from-stage-named-by-global-arg", df(
        """
        ARG FLAVOUR=slim
        FROM python:3.11 AS slim
        COPY vendor/ /vendor/
        FROM ${FLAVOUR}
        COPY app.py /app/
        """), ("vendor/lib.py",),
         rebuild("COPY vendor/ /vendor/ at Dockerfile:3 in stage slim reads vendor/lib.py")),
    # --- RUN, ONBUILD, mounts after the copy ----------------------------------------------------
    Case("unrelated-run-after-copy", df(
        """
        FROM busybox
        COPY app.sh /app/
        RUN echo built > /built
        """), ("app.sh",),
         rebuild("RUN at Dockerfile:3 runs after COPY app.sh /app/ at Dockerfile:2, which copies"
                 " app.sh")),
    Case("run-before-copy-only", df(
        """
        FROM busybox
        RUN mkdir -p /app
        COPY app.sh /app/
        CMD ["/app/app.sh"]
        """), ("app.sh",),
         inplace("COPY app.sh /app/ at Dockerfile:3", cp("app.sh", "/app/app.sh", 3))),
    Case("onbuild-after-copy", df(
        """
        FROM busybox
        COPY app.sh /app/
        ONBUILD RUN /app/app.sh
        """), ("app.sh",),
         rebuild("ONBUILD at Dockerfile:3 runs after COPY app.sh /app/ at Dockerfile:2, which"
                 " copies app.sh")),
    Case("first-carrier-decides", df(
        """
        FROM python:3.11
        WORKDIR /app
        COPY pyproject.toml ./
        RUN pip install .
        COPY . .
        """), ("pyproject.toml",),
         rebuild("RUN at Dockerfile:4 runs after COPY pyproject.toml ./ at Dockerfile:3, which"
                 " copies pyproject.toml")),
    Case("cache-and-secret-mounts-read-nothing", df(
        """
        FROM python:3.11
        RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok pip install x
        COPY . /app
        """), ("main.py",),
         inplace("COPY . /app at Dockerfile:3", cp("main.py", "/app/main.py", 3))),
    # --- WORKDIR --------------------------------------------------------------------------------
    Case("workdir-relative-chain", df(
        """
        FROM busybox
        WORKDIR /srv
        WORKDIR app
        COPY . .
        """), ("web/index.html",),
         inplace("COPY . . at Dockerfile:4", cp("web/index.html", "/srv/app/web/index.html", 4))),
    Case("workdir-inherited-from-stage", df(
        """
        FROM python:3.11 AS base
        WORKDIR /code
        FROM base
        COPY src/ src/
        """), ("src/a.py",),
         inplace("COPY src/ src/ at Dockerfile:4", cp("src/a.py", "/code/src/a.py", 4))),
    Case("workdir-from-env", df(
        """
        FROM python:3.11
        ENV APP_HOME=/home/app
        WORKDIR $APP_HOME/web
        COPY . ./
        """), ("manage.py",),
         inplace("COPY . ./ at Dockerfile:4", cp("manage.py", "/home/app/web/manage.py", 4))),
    Case("workdir-unresolved", df(
        """
        FROM python:3.11
        WORKDIR $HOME/app
        COPY . .
        """), ("manage.py",),
         rebuild("cannot follow COPY . . at Dockerfile:3 (an unresolved WORKDIR), which may copy"
                 " manage.py")),
    Case("file-to-workdir-without-slash", df(
        """
        FROM python:3.11
        WORKDIR /app
        COPY app.py /app
        """), ("app.py",),
         inplace("COPY app.py /app at Dockerfile:3", cp("app.py", "/app/app.py", 3))),
    # --- sources and destinations ---------------------------------------------------------------
    Case("glob-files", df(
        """
        FROM python:3.11
        COPY *.py /app/
        """), ("main.py", "README.md"),
         inplace("COPY *.py /app/ at Dockerfile:2", cp("main.py", "/app/main.py", 2))),
    # A directory the glob matches copies its contents: src/pkg/mod.py lands at /app/mod.py,
    # where src/mod.py or src/other/mod.py may land too.
    Case("glob-matches-directory-contents", df(
        """
        FROM python:3.11
        COPY src/* /app/
        """), ("src/pkg/mod.py",),
         rebuild("COPY src/* /app/ at Dockerfile:2 may also write /app/mod.py")),
    Case("glob-character-class", df(
        """
        FROM busybox
        COPY data/[ab]?.txt /data/
        """), ("data/a1.txt", "data/c1.txt"),
         inplace("COPY data/[ab]?.txt /data/ at Dockerfile:2",
                 cp("data/a1.txt", "/data/a1.txt", 2))),
    # Matched in linear time (RE2): a backtracking matcher takes minutes on this name.
    Case("glob-many-stars", "FROM busybox\nCOPY *a*a*a*a*a*a*a*a*a*a*a*b /x/\n", ("a" * 200,),
         inplace(f"nothing in Dockerfile copies {'a' * 200}")),
    Case("glob-into-unknown-destination", df(
        """
        FROM busybox
        COPY conf/*.conf /etc/app
        """), ("conf/a.conf",),
         rebuild("cannot follow COPY conf/*.conf /etc/app at Dockerfile:2 (a glob into /etc/app,"
                 " a file or a directory)")),
    Case("several-sources", df(
        """
        FROM python:3.11
        COPY a.py b.py /app/
        """), ("b.py",),
         inplace("COPY a.py b.py /app/ at Dockerfile:2", cp("b.py", "/app/b.py", 2))),
    Case("file-renamed", df(
        """
        FROM nginx
        COPY config/prod.yaml /etc/app/config.yaml
        """), ("config/prod.yaml",),
         inplace("COPY config/prod.yaml /etc/app/config.yaml at Dockerfile:2",
                 cp("config/prod.yaml", "/etc/app/config.yaml", 2))),
    Case("file-into-existing-directory-unknown", df(
        """
        FROM busybox
        COPY entrypoint.sh /usr/local/bin
        """), ("entrypoint.sh",),
         rebuild("cannot follow COPY entrypoint.sh /usr/local/bin at Dockerfile:2"
                 " (/usr/local/bin may be a directory)")),
    Case("directory-source-without-slash", df(
        """
        FROM busybox
        WORKDIR /app
        COPY static ./public
        """), ("static/css/site.css",),
         inplace("COPY static ./public at Dockerfile:3",
                 cp("static/css/site.css", "/app/public/css/site.css", 3))),
    Case("new-directory-inside-a-copy", df(
        """
        FROM python:3.11
        COPY src/ /app/src/
        """), ("src/newpkg",),
         inplace("COPY src/ /app/src/ at Dockerfile:2", cp("src/newpkg", "/app/src/newpkg", 2)),
         dirs=frozenset({"src/newpkg"})),
    Case("source-directory-itself", df(
        """
        FROM python:3.11
        COPY src/ /app/
        """), ("src",),
         rebuild("cannot follow COPY src/ /app/ at Dockerfile:2 (src is copied as a whole)"),
         dirs=frozenset({"src"})),
    Case("directory-holding-a-named-file", df(
        """
        FROM python:3.11
        COPY config/app.yaml /etc/app.yaml
        """), ("config",),
         rebuild("cannot follow COPY config/app.yaml /etc/app.yaml at Dockerfile:2 (config holds"
                 " what it copies)"), dirs=frozenset({"config"})),
    Case("json-form-with-space", df(
        """
        FROM busybox
        COPY ["my file.txt", "/data/"]
        """), ("my file.txt",),
         inplace('COPY ["my file.txt", "/data/"] at Dockerfile:2',
                 cp("my file.txt", "/data/my file.txt", 2))),
    Case("dot-slash-and-leading-slash-sources", df(
        """
        FROM busybox
        COPY ./web/ /www/
        COPY /conf/app.ini /etc/app.ini
        """), ("web/a.html", "conf/app.ini"),
         inplace("COPY ./web/ /www/ at Dockerfile:2, COPY /conf/app.ini /etc/app.ini at"
                 " Dockerfile:3", cp("conf/app.ini", "/etc/app.ini", 3),
                 cp("web/a.html", "/www/a.html", 2))),
    Case("source-outside-context", df(
        """
        FROM busybox
        COPY ../shared/ /shared/
        COPY app.sh /app/
        """), ("app.sh",),
         rebuild("cannot follow COPY ../shared/ /shared/ at Dockerfile:2 (a source outside the"
                 " context), which may copy app.sh")),
    Case("two-destinations", df(
        """
        FROM python:3.11
        COPY . /app
        COPY config/ /etc/app/
        """), ("config/x.yaml",),
         inplace("COPY . /app at Dockerfile:2, COPY config/ /etc/app/ at Dockerfile:3",
                 cp("config/x.yaml", "/app/config/x.yaml", 2),
                 cp("config/x.yaml", "/etc/app/x.yaml", 3))),
    Case("last-copy-decides-owner", df(
        """
        FROM python:3.11
        COPY --chown=app . /app
        COPY --chown=web:web src/ /app/src/
        """), ("src/x.py", "main.py"),
         inplace("COPY --chown=app . /app at Dockerfile:2, COPY --chown=web:web src/ /app/src/ at"
                 " Dockerfile:3", cp("main.py", "/app/main.py", 2, owner="app"),
                 cp("src/x.py", "/app/src/x.py", 3, owner="web:web"))),
    Case("later-copy-may-overwrite", df(
        """
        FROM python:3.11
        COPY . /app
        COPY overrides/ /app/
        """), ("main.py",),
         rebuild("COPY overrides/ /app/ at Dockerfile:3 may also write /app/main.py")),
    Case("earlier-stage-output-under-destination", df(
        """
        FROM node:20 AS build
        RUN echo > /dist
        FROM nginx
        COPY --from=build /dist /www/dist
        COPY www/ /www/
        """), ("www/dist/x.js",),
         rebuild("COPY --from=build /dist /www/dist at Dockerfile:4 also writes /www/dist/x.js")),
    Case("later-directory-named-like-a-file", df(
        """
        FROM nginx
        COPY nginx/ /etc/nginx/
        COPY conf.d /etc/nginx/conf.d
        """), ("nginx/conf.d/x.conf",),
         rebuild("COPY conf.d /etc/nginx/conf.d at Dockerfile:3 may also write"
                 " /etc/nginx/conf.d/x.conf"), dirs=frozenset({"conf.d"})),
    Case("later-file-into-an-existing-directory", df(
        """
        FROM busybox
        COPY conf/ /etc/
        COPY a.txt /etc
        """), ("conf/a.txt",),
         rebuild("COPY a.txt /etc at Dockerfile:3 may also write /etc/a.txt")),
    # --- flags ----------------------------------------------------------------------------------
    Case("chown-chmod", df(
        """
        FROM python:3.11
        COPY --chown=appuser:appuser --chmod=644 app.py /app/
        """), ("app.py",),
         inplace("COPY --chown=appuser:appuser --chmod=644 app.py /app/ at Dockerfile:2",
                 cp("app.py", "/app/app.py", 2, owner="appuser:appuser", mode=0o644))),
    Case("chmod-four-digits-and-chown-from-arg", df(
        """
        FROM busybox
        ARG OWNER=1000:1000
        COPY --chown=$OWNER --chmod=0755 run.sh /usr/local/bin/
        """), ("run.sh",),
         inplace("COPY --chown=$OWNER --chmod=0755 run.sh /usr/local/bin/ at Dockerfile:3",
                 cp("run.sh", "/usr/local/bin/run.sh", 3, owner="1000:1000", mode=0o755))),
    Case("chmod-symbolic", df(
        """
        FROM busybox
        COPY --chmod=u+x run.sh /usr/local/bin/
        """), ("run.sh",),
         rebuild("cannot follow COPY --chmod=u+x run.sh /usr/local/bin/ at Dockerfile:2 (a --chmod"
                 " that is not octal), which may copy run.sh")),
    Case("link", df(
        """
        FROM busybox
        COPY --link --chown=1:1 site/ /www/
        """), ("site/index.html",),
         inplace("COPY --link --chown=1:1 site/ /www/ at Dockerfile:2",
                 cp("site/index.html", "/www/index.html", 2, owner="1:1"))),
    Case("parents", df(
        """
        FROM busybox
        COPY --parents src/*/main.py /app/
        """), ("src/a/main.py",),
         rebuild("cannot follow COPY --parents src/*/main.py /app/ at Dockerfile:2 (--parents),"
                 " which may copy src/a/main.py")),
    Case("exclude-elsewhere-is-harmless", df(
        """
        FROM busybox
        COPY --exclude=*.md docs/ /docs/
        COPY app.sh /app/
        """), ("app.sh",),
         inplace("COPY app.sh /app/ at Dockerfile:3", cp("app.sh", "/app/app.sh", 3))),
    Case("exclude", df(
        """
        FROM busybox
        COPY --exclude=*.md docs/ /docs/
        """), ("docs/a.txt",),
         rebuild("cannot follow COPY --exclude=*.md docs/ /docs/ at Dockerfile:2 (--exclude),"
                 " which may copy docs/a.txt")),
    # --- ADD --------------------------------------------------------------------------------------
    Case("add-archive", df(
        """
        FROM busybox
        ADD vendor.tar.gz /opt/
        """), ("vendor.tar.gz",),
         rebuild("ADD vendor.tar.gz /opt/ at Dockerfile:2 extracts vendor.tar.gz")),
    Case("add-plain-file", df(
        """
        FROM busybox
        ADD app.sh /app/
        """), ("app.sh",),  # BuildKit unpacks any tar ADD names, whatever its name
         rebuild("ADD app.sh /app/ at Dockerfile:2 may extract app.sh")),
    Case("add-directory-holding-an-archive", df(
        """
        FROM busybox
        ADD assets/ /assets/
        """), ("assets/fonts.tgz",),  # only a directly named archive is extracted
         inplace("ADD assets/ /assets/ at Dockerfile:2",
                 cp("assets/fonts.tgz", "/assets/fonts.tgz", 2))),
    Case("add-url-over-destination", df(
        """
        FROM busybox
        ADD https://example.com/robots.txt /www/robots.txt
        COPY www/ /www/
        """), ("www/robots.txt",),
         rebuild("ADD https://example.com/robots.txt /www/robots.txt at Dockerfile:2 also writes"
                 " /www/robots.txt")),
    Case("add-url-elsewhere", df(
        """
        FROM busybox
        ADD https://example.com/robots.txt /www/robots.txt
        COPY www/ /www/
        """), ("www/index.html",),
         inplace("COPY www/ /www/ at Dockerfile:3", cp("www/index.html", "/www/index.html", 3))),
    # --- heredocs ---------------------------------------------------------------------------------
    Case("heredoc-copy-writes-destination", df(
        """
        FROM python:3.11
        WORKDIR /app
        COPY <<EOF config.py
        DEBUG = True
        COPY . /elsewhere
        EOF
        COPY . .
        """), ("config.py",),
         rebuild("COPY <<EOF config.py at Dockerfile:3 also writes /app/config.py")),
    Case("heredoc-body-is-not-an-instruction", df(
        """
        FROM python:3.11
        WORKDIR /app
        RUN <<-EOT
        \tpip install flask
        \tRUN echo not an instruction
        \tEOT
        COPY . .
        """), ("app.py",),
         inplace("COPY . . at Dockerfile:7", cp("app.py", "/app/app.py", 7))),
    Case("quoted-double-angle-is-not-a-heredoc", df(
        """
        FROM python:3.11
        RUN echo "a<<EOF"
        COPY . /app
        RUN make
        """), ("main.py",),
         rebuild("RUN at Dockerfile:4 runs after COPY . /app at Dockerfile:3, which copies"
                 " main.py")),
    Case("unterminated-heredoc", df(
        """
        FROM python:3.11
        COPY . /app
        RUN <<EOF
        make
        """), ("main.py",),
         rebuild("a heredoc at Dockerfile:3 has no end")),
    # --- ARG and ENV paths ------------------------------------------------------------------------
    Case("arg-default", df(
        """
        FROM busybox
        ARG APP_DIR=/opt/app
        COPY . ${APP_DIR}
        """), ("a.txt",),
         inplace("COPY . ${APP_DIR} at Dockerfile:3", cp("a.txt", "/opt/app/a.txt", 3))),
    Case("arg-given", df(
        """
        FROM busybox
        ARG APP_DIR=/opt/app
        COPY . ${APP_DIR}
        """), ("a.txt",),
         inplace("COPY . ${APP_DIR} at Dockerfile:3", cp("a.txt", "/srv/a.txt", 3)),
         args={"APP_DIR": "/srv"}),
    Case("arg-given-none-keeps-default", df(
        """
        FROM busybox
        ARG APP_DIR=/opt/app
        COPY . ${APP_DIR}
        """), ("a.txt",),
         inplace("COPY . ${APP_DIR} at Dockerfile:3", cp("a.txt", "/opt/app/a.txt", 3)),
         args={"APP_DIR": None}),
    Case("global-arg-not-in-stage", df(
        """
        ARG DIR=/opt
        FROM busybox
        COPY . $DIR
        """), ("a.txt",),
         rebuild("cannot follow COPY . $DIR at Dockerfile:3 (unresolved $DIR), which may copy"
                 " a.txt")),
    Case("global-arg-redeclared", df(
        """
        ARG DIR=/opt
        FROM busybox
        ARG DIR
        COPY . $DIR
        """), ("a.txt",),
         inplace("COPY . $DIR at Dockerfile:4", cp("a.txt", "/opt/a.txt", 4))),
    Case("global-arg-redeclared-given", df(
        """
        ARG DIR=/opt
        FROM busybox
        ARG DIR
        COPY . $DIR
        """), ("a.txt",),
         inplace("COPY . $DIR at Dockerfile:4", cp("a.txt", "/data/a.txt", 4)),
         args={"DIR": "/data"}),
    Case("global-arg-from-global-arg", df(
        """
        ARG ROOT=/opt
        ARG DIR=$ROOT/app
        FROM busybox
        ARG DIR
        COPY . $DIR
        """), ("a.txt",),
         inplace("COPY . $DIR at Dockerfile:5", cp("a.txt", "/srv/app/a.txt", 5)),
         args={"ROOT": "/srv"}),
    Case("build-arg-not-declared-is-invisible", df(
        """
        FROM busybox
        COPY . ${DEST:-/fallback}
        """), ("a.txt",),
         inplace("COPY . ${DEST:-/fallback} at Dockerfile:2", cp("a.txt", "/fallback/a.txt", 2)),
         args={"DEST": "/given"}),
    Case("arg-dependent-source", df(
        """
        FROM busybox
        ARG ENVIRONMENT=dev
        COPY config/${ENVIRONMENT}/ /etc/app/
        """), ("config/prod/a.ini", "config/dev/a.ini"),
         inplace("COPY config/${ENVIRONMENT}/ /etc/app/ at Dockerfile:3",
                 cp("config/dev/a.ini", "/etc/app/a.ini", 3))),
    Case("env-legacy-form-and-override", df(
        """
        FROM busybox
        ARG APP=/from-arg
        ENV APP /srv/app
        COPY . $APP/
        """), ("a.txt",),
         inplace("COPY . $APP/ at Dockerfile:4", cp("a.txt", "/srv/app/a.txt", 4)),
         args={"APP": "/given"}),
    Case("env-same-line-uses-previous-value", df(
        """
        FROM busybox
        ENV ROOT=/a
        ENV ROOT=/b DEST=$ROOT
        COPY . $DEST
        """), ("x",),
         inplace("COPY . $DEST at Dockerfile:4", cp("x", "/a/x", 4))),
    # --- syntax -----------------------------------------------------------------------------------
    Case("continuations-and-comments", df(
        """
        FROM busybox
        # the app
        COPY --chown=1000:1000 \\
        # a comment inside is dropped

            src/ \\
            /app/src/
        """), ("src/a.py",),
         inplace("COPY --chown=1000:1000 src/ /app/src/ at Dockerfile:3",
                 cp("src/a.py", "/app/src/a.py", 3, owner="1000:1000"))),
    Case("escape-directive-backtick", df(
        """
        # escape=`
        FROM busybox
        COPY src/ `
            /app/src/
        RUN echo \\
        """), ("src/a.py",),
         rebuild("RUN at Dockerfile:5 runs after COPY src/ /app/src/ at Dockerfile:3, which"
                 " copies src/a.py")),
    Case("lower-case-and-indented", "from busybox\n  workdir /app\n\tcopy . .\n", ("a.txt",),
         inplace("COPY . . at Dockerfile:3", cp("a.txt", "/app/a.txt", 3))),
    # --- special paths, mounts, volumes ----------------------------------------------------------
    Case("dockerfile-changed", SEED_FLASK, ("Dockerfile",), rebuild("Dockerfile changed")),
    Case("dockerignore-changed", SEED_FLASK, (".dockerignore",), rebuild(".dockerignore changed")),
    Case("named-dockerfile-and-its-ignore-file", SEED_FLASK,
         ("docker/api.Dockerfile.dockerignore",),
         rebuild("docker/api.Dockerfile.dockerignore changed"), name="docker/api.Dockerfile"),
    Case("named-dockerfile", SEED_FLASK, ("docker/api.Dockerfile",),
         rebuild("docker/api.Dockerfile changed"), name="docker/api.Dockerfile"),
    Case("context-subdirectory", df(
        """
        FROM python:3.11
        WORKDIR /api
        COPY . .
        """), ("main.py",),
         InPlace((Copy(Path("/proj/backend/main.py"), "/api/main.py", None, None, 3),),
                 "in place: COPY . . at Dockerfile:3"), context=Path("/proj/backend")),
    Case("outside-the-context", SEED_FLASK, ("../frontend/x.js",),
         rebuild("/frontend/x.js is outside the build context")),
    Case("bind-mount-over-destination", SEED_FLASK, ("src/a.py",),
         rebuild("a bind mount or volume over /app/src/a.py"), covered=("/app/src",)),
    Case("volume-instruction-over-destination", df(
        """
        FROM busybox
        VOLUME /data
        COPY seed/ /data/
        """), ("seed/a.csv",),
         rebuild("VOLUME at Dockerfile:2 is over /data/a.csv")),
    Case("bom-and-crlf", "\ufeffFROM busybox\r\nWORKDIR /w\r\nCOPY . .\r\n", ("a.txt",),
         inplace("COPY . . at Dockerfile:3", cp("a.txt", "/w/a.txt", 3))),
    Case("file-into-directory-an-earlier-copy-made", df(
        """
        FROM python:3.11
        COPY lib/ /opt/app/lib/
        COPY main.py /opt/app
        """), ("main.py",),
         inplace("COPY main.py /opt/app at Dockerfile:3", cp("main.py", "/opt/app/main.py", 3))),
    Case("new-directory-under-the-whole-context", SEED_FLASK, ("templates",),
         inplace("COPY . . at Dockerfile:5", cp("templates", "/app/templates", 5)),
         dirs=frozenset({"templates"})),
    Case("add-git-url-writes-elsewhere", df(
        """
        FROM busybox
        ADD git@github.com:moby/buildkit.git /src/buildkit
        COPY app.sh /app/
        """), ("app.sh",),
         inplace("COPY app.sh /app/ at Dockerfile:3", cp("app.sh", "/app/app.sh", 3))),
    Case("copied-and-untouched-together", SEED_FLASK, ("app.py", "notes/todo.md"),
         inplace("COPY . . at Dockerfile:5", cp("app.py", "/app/app.py", 5),
                 cp("notes/todo.md", "/app/notes/todo.md", 5))),
    Case("dockerfile-outside-the-context", SEED_FLASK, ("../Dockerfile.dev",),
         rebuild("../Dockerfile.dev changed"), name="../Dockerfile.dev"),
    Case("nothing-changed", SEED_FLASK, (), inplace("nothing changed")),
    Case("several-untouched", MULTI5, ("a.md", "b.md"),
         inplace("nothing in Dockerfile copies a.md (and 1 more)")),
]  # fmt: skip


def decide(case: Case) -> InPlace | Rebuild:
    routes = analyse(case.dockerfile, target=case.target, build_args=case.args,
                     dockerfile_name=case.name)  # fmt: skip
    changed = [Path(os.path.normpath(case.context / rel)) for rel in case.changed]
    # What the caller's stat would say: the directories named, and those holding a changed path.
    dirs = {case.context / rel for rel in case.dirs}
    dirs |= {parent for path in changed for parent in path.parents}

    def covered(dest: str) -> bool:
        return any(dest == c or dest.startswith(c + "/") for c in case.covered)

    return plan(routes, case.context, changed, covered=covered, is_dir=lambda p: p in dirs)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_plan(case: Case) -> None:
    assert decide(case) == case.expect


def test_table_size() -> None:
    assert len({case.dockerfile for case in CASES}) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


def test_names_that_are_not_stages() -> None:
    routes = analyse(
        "FROM busybox AS b\nFROM busybox\nCOPY --from=b /x /x\nCOPY --from=assets . /www\n"
        "RUN --mount=type=bind,from=nginx:alpine,target=/n true\n",
        target=None,
        build_args={},
    )
    assert routes.external == ("assets", "nginx:alpine")


@pytest.mark.parametrize(
    ("word", "expanded"),
    [
        ("${A:+set}", "set"),
        ("${NONE:+set}", ""),
        ("${NONE:-${A}}", "1"),
        ("'$A'", "$A"),
        ('"$A"/x', "1/x"),
        ("\\$A", "$A"),
        ("$A$A", "11"),
        ("a$", "a$"),
    ],
)
def test_expand(word: str, expanded: str) -> None:
    assert expand(word, {"A": "1"}) == expanded


@pytest.mark.parametrize("word", ["$NONE", "${NONE}", "${A:?x}", "${A", "${}"])
def test_expand_unresolved(word: str) -> None:
    with pytest.raises(Unresolved):
        expand(word, {"A": "1"})


def test_without_is_dir_a_source_with_an_extension_is_a_file() -> None:
    routes = analyse(SEED_FLASK, target=None, build_args={})
    assert plan(routes, CTX, [CTX / "app.py"]) == inplace(
        "COPY . . at Dockerfile:5", cp("app.py", "/app/app.py", 5)
    )
    routes = analyse("FROM x\nCOPY . /app\nCOPY lib /app/\n", target=None, build_args={})
    assert plan(routes, CTX, [CTX / "main.py"]) == rebuild(
        "COPY lib /app/ at Dockerfile:3 may also write /app/main.py"
    )


def test_routes_are_reused_across_saves() -> None:
    routes = analyse(SEED_FLASK, target=None, build_args={})
    assert plan(routes, CTX, [CTX / "app.py"]) == plan(routes, CTX, [CTX / "app.py"])
    assert isinstance(plan(routes, CTX, [CTX / "requirements.txt"]), Rebuild)


_LINES = st.sampled_from(
    [
        "FROM busybox", "FROM busybox AS b", "FROM b", "FROM ${X:-busybox} AS c", "WORKDIR /app",
        "WORKDIR $W", "COPY . .", "COPY src/ ./src/", "COPY *.py /app/", "COPY [ab]* /x",
        "COPY --from=b /x /y", "COPY --chown=u --chmod=7 a /b/", "ADD x.tgz /", "RUN x",
        "RUN --mount=type=bind,source=a,target=/a x", "ONBUILD RUN x", "ARG W=/w", "ENV E=$W",
        "COPY <<EOF /f", "EOF", "VOLUME /app", "COPY \\", "# escape=`", "copy [\"a\", \"/b\"]",
        "COPY --parents a /b", "COPY ../x /y", "COPY ${", "ENV a", "ARG", "COPY", "FROM",
    ]
)  # fmt: skip
_TEXT = st.one_of(
    st.lists(_LINES, max_size=12).map("\n".join),
    st.text(max_size=200),
)
_PATHS = st.lists(
    st.one_of(
        st.sampled_from(["a", "src/a.py", "x.tgz", "Dockerfile", ".dockerignore", "..", "b/c"]),
        st.text(alphabet=st.characters(exclude_characters="\x00"), min_size=1, max_size=10),
    ),
    max_size=4,
)
FUZZ = settings(
    max_examples=int(os.environ.get("COMPOSEWATCH_FUZZ_EXAMPLES", "300")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(
    text=_TEXT,
    paths=_PATHS,
    target=st.sampled_from([None, "b", "c", "zz"]),
    dirs=st.sampled_from([None, True, False]),
)
def test_plan_never_raises(
    text: str, paths: list[str], target: str | None, dirs: bool | None
) -> None:
    routes = analyse(text, target=target, build_args={"W": "/given"})
    is_dir = None if dirs is None else (lambda _: dirs)
    result = plan(routes, CTX, [CTX / p for p in paths], is_dir=is_dir)
    assert isinstance(result, InPlace | Rebuild)
    assert result.why.startswith("in place: " if isinstance(result, InPlace) else "rebuild: ")
    if isinstance(result, InPlace):
        assert all(copy.dest.startswith("/") for copy in result.copies)
