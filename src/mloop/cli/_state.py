"""The per-invocation state of the CLI: settings chosen by the global options."""

from __future__ import annotations

import typer

from mloop._client import Client
from mloop.config import Settings, load_settings


def settings_from(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    if not isinstance(root.obj, dict):
        root.obj = {}
    if "settings" not in root.obj:
        root.obj["settings"] = load_settings(home=root.obj.get("home"))
    settings: Settings = root.obj["settings"]
    return settings


def client_from(ctx: typer.Context) -> Client:
    root = ctx.find_root()
    settings = settings_from(ctx)
    if "client" not in root.obj:
        root.obj["client"] = Client(settings)
    client: Client = root.obj["client"]
    return client
