"""Build the optional compiled word cutter of ``veille.normalise.fold`` (pure-Python fallback
when a C compiler or the Python headers are missing). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "veille.normalise._foldc",
            ["src/veille/normalise/_foldc.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
