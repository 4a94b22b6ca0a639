"""Build the compiled core (ext/*.pyx) as modules inside the package.

Cython is a build requirement (pyproject.toml), so `pip install .` needs only a C
compiler. Each compiled module has a pure-Python reference in driver/ that the
tests compare it against.
"""
from setuptools import Extension, setup
from Cython.Build import cythonize

extensions = [
    Extension("driver._recorder", ["ext/_recorder.pyx"], extra_compile_args=["-O3"]),
    Extension("driver._httpparse", ["ext/_httpparse.pyx"], extra_compile_args=["-O3"]),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
