"""Build the optional compiled helpers: the word cutter of ``veille.normalise.fold``, the text
check of ``veille.store.checks``, the row builder of ``veille.store.rows``, the batched
statements of ``veille.store.bulk`` (linked with Debian's libsqlite3) and the time conversion
of ``veille.store.types``. Each has a pure-Python fallback for when a C compiler, the Python
headers or the SQLite headers are missing. Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "veille.normalise._foldc",
            ["src/veille/normalise/_foldc.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "veille.store._textcheck",
            ["src/veille/store/_textcheck.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "veille.store._rowsc",
            ["src/veille/store/_rowsc.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "veille.store._sqlitec",
            ["src/veille/store/_sqlitec.c"],
            extra_compile_args=["-O2"],
            libraries=["sqlite3"],
            optional=True,
        ),
        Extension(
            "veille.store._timec",
            ["src/veille/store/_timec.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
