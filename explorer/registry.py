"""One registry helper for every kind of variant (datasets, generators, critics, classifiers, losses, tasks).

    LOSSES = Registry("loss")
    @LOSSES.register("bce")
    class BCELoss: ...
    LOSSES.lookup("bce")   # the class; an unknown name is one readable ConfigError listing the known ones

A Registry is a dict, so `name in LOSSES`, `sorted(LOSSES)` and `LOSSES[name]` work as before.
"""
from __future__ import annotations

from explorer.errors import ConfigError


class Registry(dict):
    def __init__(self, what: str):
        super().__init__()
        self.what = what   # how an error names an entry: "loss", "generator architecture", ...

    def register(self, name: str):
        """Decorator: file the class or function under `name` (a class also learns its own `name`)."""
        def deco(obj):
            if name in self:
                raise ValueError(f"{self.what} '{name}' is registered twice")
            self[name] = obj
            if isinstance(obj, type):
                obj.name = name
            return obj
        return deco

    def lookup(self, name: str):
        """The entry filed under `name`, or one readable error that lists the known names."""
        if name not in self:
            raise ConfigError(f"unknown {self.what} '{name}' (known: {', '.join(sorted(self))})")
        return self[name]
