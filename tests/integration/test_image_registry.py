# SPDX-License-Identifier: Apache-2.0
"""Runs the registry-backed cmocka tests of image/ (tests/unit/test_image_registry.c)
against real docker-registry instances started here, with test images pushed by skopeo."""
import os
import shutil
import subprocess
import tempfile

from registry import (AUTH_PASS, AUTH_USER, auth_registry, registry,  # noqa: F401
                      test_images, token_registry)


def _unmount_under(path):
    """Lazily unmounts every mount below path, deepest first (left by a crashed binary)."""
    with open("/proc/self/mountinfo") as f:
        mps = [line.split()[4] for line in f]
    for mp in sorted((m for m in mps if m.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False)


def _binary():
    build = os.path.abspath(os.environ.get("BERTH_BUILD", "build"))
    return os.path.join(build, "image", "test_image_registry")


def test_image_library_against_registry(registry, auth_registry, token_registry,  # noqa: F811
                                        test_images):  # noqa: F811
    _, imgs = test_images
    registry.corrupt_blob(imgs["corrupt"]["layers"][0])
    plat = imgs["list"]["platforms"]
    env = dict(os.environ,
               CMOCKA_MESSAGE_OUTPUT="stdout",
               BERTH_TEST_REGISTRY=registry.host,
               BERTH_TEST_REGISTRY_LOG=registry.log_path,
               BERTH_TEST_AUTH_REGISTRY=auth_registry.host,
               BERTH_TEST_AUTH_USER=AUTH_USER,
               BERTH_TEST_AUTH_PASS=AUTH_PASS,
               BERTH_TEST_TOKEN_REGISTRY=token_registry.host,
               BERTH_TEST_IDENTITY_TOKEN=token_registry.token.identity_token,
               BERTH_TEST_REGISTRY_TOKEN=token_registry.token.mint("repository:test/busybox:pull"),
               BERTH_TEST_BUSYBOX_DIGEST=imgs["busybox"]["digest"],
               BERTH_TEST_BUSYBOX_ID=imgs["busybox"]["config"],
               BERTH_TEST_BUSYBOX_SIZE=str(imgs["busybox"]["image_size"]),
               BERTH_TEST_LIST_DIGEST=imgs["list"]["digest"],
               BERTH_TEST_LIST_AMD64_DIGEST=plat["amd64"]["digest"],
               BERTH_TEST_LIST_ARM64_DIGEST=plat["arm64"]["digest"],
               BERTH_TEST_CORRUPT_LAYER=imgs["corrupt"]["layers"][0],
               BERTH_TEST_CONCURRENT_LAYERS=",".join(imgs["concurrent"]["layers"]))
    tmp = tempfile.mkdtemp(prefix="berth-image-reg-")
    env["BERTH_TEST_TMPDIR"] = tmp
    try:
        p = subprocess.run([_binary()], env=env, capture_output=True, text=True, timeout=600)
    finally:
        _unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    print(p.stdout)
    print(p.stderr)
    assert p.returncode == 0, f"test_image_registry failed:\n{p.stdout}\n{p.stderr}"
