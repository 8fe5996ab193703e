# SPDX-License-Identifier: Apache-2.0
# bench/image.cmake - the image pull benchmark program; include() it from bench/CMakeLists.txt.
# Run: /usr/bin/python3 bench/image_pull.py (builds the test image, starts a registry).
add_executable(image_pull ${CMAKE_CURRENT_LIST_DIR}/image_pull.c)
target_compile_options(image_pull PRIVATE ${BERTH_WARNINGS})
target_link_libraries(image_pull PRIVATE berth_image_pull)
