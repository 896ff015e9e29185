"""pip install . -- the engram_client Python module (python/), built by the
project's CMake, offline, from Debian's packages:

    python3 -m pip install --no-build-isolation .

(--no-build-isolation: use the system's setuptools instead of fetching
one.) CMake configures the whole project (its dependencies are those of
deploy/install_deps.sh) but builds only the module's target, in
build-python/cmake; ENGRAM_CMAKE_ARGS adds arguments to that configure
step. ENGRAM_BUILD_DIR=build reuses a build tree already configured (the
README's), building the module there.
"""

import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_BASE = "build-python"
# egg_info wants its directory to exist.
os.makedirs(os.path.join(ROOT, BUILD_BASE), exist_ok=True)


class CMakeExtension(Extension):
    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.environ.get("ENGRAM_BUILD_DIR") or os.path.join(
            ROOT, BUILD_BASE, "cmake")
        build_dir = os.path.abspath(build_dir)
        configure = [
            "cmake", "-S", ROOT, "-B", build_dir,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DENGRAM_ENABLE_CUDA=OFF",  # the client needs no kernels
            f"-DPython_EXECUTABLE={sys.executable}",
            *shlex.split(os.environ.get("ENGRAM_CMAKE_ARGS", "")),
        ]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", build_dir, "--target", ext.target,
                        "-j", str(os.cpu_count() or 1)], check=True)
        built = os.path.join(build_dir, "python",
                             os.path.basename(self.get_ext_filename(ext.name)))
        if not os.path.exists(built):
            raise RuntimeError(
                f"{built} was not built: CMake found no Python headers, "
                "pybind11 or DLPack (python3-dev pybind11-dev libdlpack-dev)")
        destination = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(built, destination)


setup(
    name="engram-client",
    version="0.1.0",
    description="Python client of engram-server (Engram memory tables)",
    python_requires=">=3.9",
    install_requires=["numpy"],
    packages=[],
    ext_modules=[CMakeExtension("engram_client", target="engram_client_py")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": BUILD_BASE},
             "egg_info": {"egg_base": BUILD_BASE}},
    zip_safe=False,
)
