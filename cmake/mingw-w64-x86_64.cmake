# Cross-compiling for 64-bit Windows with Debian's mingw-w64 (g++-mingw-w64-x86-64), as
# scripts/cross-windows does. Tests run through wine (CMAKE_CROSSCOMPILING_EMULATOR), so that
# ctest works unchanged in the cross build directory.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CRMSYNC_MINGW_TRIPLE x86_64-w64-mingw32)

# The -posix variant: std::thread, std::mutex and std::condition_variable need winpthreads
# (the -win32 variant has no C++11 threads in GCC 12).
find_program(CMAKE_CXX_COMPILER NAMES ${CRMSYNC_MINGW_TRIPLE}-g++-posix ${CRMSYNC_MINGW_TRIPLE}-g++
             REQUIRED)
find_program(CMAKE_C_COMPILER NAMES ${CRMSYNC_MINGW_TRIPLE}-gcc-posix ${CRMSYNC_MINGW_TRIPLE}-gcc)
find_program(CMAKE_RC_COMPILER NAMES ${CRMSYNC_MINGW_TRIPLE}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${CRMSYNC_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The C++ runtime (libstdc++, libgcc, winpthread) linked in: the executables run under wine
# and on Windows without the mingw DLLs next to them.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(CRMSYNC_WINE NAMES wine)
if(CRMSYNC_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CRMSYNC_WINE})
endif()
