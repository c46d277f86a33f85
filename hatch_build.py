"""Build hook: ship the grammar's LALR tables, generated from grammar/chaincli.lark.

The wheel gets ``chaincli/language/_parser_tables.py`` (plain Python literals made by
Lark from the grammar), so the installed parser starts without compiling the
grammar and without a cache. The grammar file itself ships too and stays the
one definition of the syntax; chaincli checks the tables against it.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ParserTablesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        root = self.root
        spec = importlib.util.spec_from_file_location(
            "_chaincli_parser_tables", os.path.join(root, "chaincli", "language", "tables.py"))
        generator = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(generator)
        with open(os.path.join(root, "grammar", "chaincli.lark"), encoding="utf-8") as handle:
            source = generator.generate_module(handle.read())
        self._folder = tempfile.mkdtemp(prefix="chaincli-build-")
        path = os.path.join(self._folder, "_parser_tables.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
        build_data["force_include"][path] = "chaincli/language/_parser_tables.py"

    def finalize(self, version, build_data, artifact_path):
        folder = getattr(self, "_folder", None)
        if folder:
            for name in os.listdir(folder):
                os.remove(os.path.join(folder, name))
            os.rmdir(folder)
