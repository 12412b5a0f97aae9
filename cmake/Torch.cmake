# libtorch as deps::torch, and the CUDA runtime as deps::cudart (its headers and library; empty
# where libtorch has no CUDA). Sets MODELD_TORCH_HAS_CUDA when libtorch has CUDA; deps::torch then
# defines it for every target that includes torch, so the CUDA branches of gpu/ and of its tests
# are compiled together.
#
# Two sources of libtorch:
# - by default Debian's libtorch-dev (CPU only), found in the system's directories;
# - with -DMODELD_TORCH_PREFIX=DIR, the libtorch of a PyTorch installation: DIR is the torch
#   package (site-packages/torch, holding include/ and lib/; two levels above
#   torch.utils.cmake_prefix_path). scripts/build-cuda.sh passes PyTorch's CUDA wheel this way;
#   its CUDA headers then come from the machine's CUDA toolkit.

set(MODELD_TORCH_PREFIX "" CACHE PATH "libtorch of a PyTorch installation (its site-packages/torch); empty: Debian's libtorch")
option(MODELD_TORCH_REQUIRE_CUDA "Fail unless the libtorch found has CUDA" OFF)

add_library(deps::torch INTERFACE IMPORTED)
add_library(deps::cudart INTERFACE IMPORTED)

# Links a library even when nothing refers to its symbols directly: torch and torch_cuda register
# the CUDA backend's kernels and allocator from static initializers, so a linker that drops
# unreferenced libraries (--as-needed, the default of some toolchains) would leave CUDA out.
set(CMAKE_LINK_LIBRARY_USING_modeld_no_as_needed "LINKER:--push-state,--no-as-needed" "<LINK_ITEM>" "LINKER:--pop-state")
set(CMAKE_LINK_LIBRARY_USING_modeld_no_as_needed_SUPPORTED TRUE)

if(MODELD_TORCH_PREFIX)
  set(_torch "${MODELD_TORCH_PREFIX}")
  if(NOT EXISTS "${_torch}/include/torch/csrc/api/include/torch/torch.h")
    message(FATAL_ERROR "modeld: MODELD_TORCH_PREFIX=${_torch} holds no libtorch "
      "(include/torch/csrc/api/include/torch/torch.h); pass the torch package directory, two levels "
      "above python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)'")
  endif()
  # Searched anew at each configure (a changed prefix must not keep the old paths), and only there.
  foreach(_name torch torch_cpu c10 torch_cuda c10_cuda)
    unset(MODELD_TORCH_LIB_${_name} CACHE)
    find_library(MODELD_TORCH_LIB_${_name} ${_name} PATHS "${_torch}/lib" NO_DEFAULT_PATH)
  endforeach()
  foreach(_name torch torch_cpu c10)
    if(NOT MODELD_TORCH_LIB_${_name})
      message(FATAL_ERROR "modeld: lib${_name}.so not found in ${_torch}/lib")
    endif()
  endforeach()
  set(_torch_includes "${_torch}/include;${_torch}/include/torch/csrc/api/include")
  set(_torch_libs "$<LINK_LIBRARY:modeld_no_as_needed,${MODELD_TORCH_LIB_torch}>" ${MODELD_TORCH_LIB_torch_cpu}
      ${MODELD_TORCH_LIB_c10})
  if(MODELD_TORCH_LIB_torch_cuda AND MODELD_TORCH_LIB_c10_cuda)
    # The CUDA runtime torch_cuda itself loads: PyTorch's wheels carry it in nvidia/<cuXY or
    # cuda_runtime>/lib beside the torch package (torch_cuda's RPATH names that directory).
    # Linking that one rather than the toolkit's keeps one CUDA runtime in the process.
    file(GLOB _cudart LIST_DIRECTORIES false "${_torch}/../nvidia/*/lib/libcudart.so.*")
    find_package(CUDAToolkit QUIET)
    if(NOT CUDAToolkit_FOUND)
      message(FATAL_ERROR "modeld: ${_torch} has CUDA, but no CUDA toolkit was found, whose headers "
        "modeld compiles against: install it, put its nvcc on PATH or pass -DCUDAToolkit_ROOT=DIR")
    endif()
    if(_cudart)
      list(SORT _cudart)
      list(GET _cudart 0 _cudart)
      get_filename_component(_cudart "${_cudart}" REALPATH)
    else()
      # A libtorch that links the system's runtime (a libtorch archive from pytorch.org).
      get_target_property(_cudart CUDA::cudart LOCATION)
    endif()
    # Headers of one CUDA major release declare the runtime API of that release only.
    string(REGEX MATCH "libcudart\\.so\\.([0-9]+)" _match "${_cudart}")
    if(_match AND NOT CMAKE_MATCH_1 STREQUAL CUDAToolkit_VERSION_MAJOR)
      message(FATAL_ERROR "modeld: torch uses CUDA ${CMAKE_MATCH_1} (${_cudart}), but the CUDA toolkit "
        "found is ${CUDAToolkit_VERSION} (${CUDAToolkit_BIN_DIR}): install a toolkit ${CMAKE_MATCH_1}.x or "
        "pass its directory as -DCUDAToolkit_ROOT=DIR")
    endif()
    message(STATUS "modeld: libtorch with CUDA from ${_torch}; CUDA runtime ${_cudart}; "
      "headers of CUDA toolkit ${CUDAToolkit_VERSION} (${CUDAToolkit_INCLUDE_DIRS})")
    set_target_properties(deps::cudart PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${CUDAToolkit_INCLUDE_DIRS}"
      INTERFACE_LINK_LIBRARIES "${_cudart}")
    list(APPEND _torch_libs "$<LINK_LIBRARY:modeld_no_as_needed,${MODELD_TORCH_LIB_torch_cuda}>"
         ${MODELD_TORCH_LIB_c10_cuda} deps::cudart)
    set(MODELD_TORCH_HAS_CUDA ON CACHE INTERNAL "")
  else()
    message(STATUS "modeld: libtorch from ${_torch}, without CUDA")
    set(MODELD_TORCH_HAS_CUDA OFF CACHE INTERNAL "")
  endif()
  # Installed binaries keep finding this libtorch (the build tree's RPATH has it already).
  set(CMAKE_INSTALL_RPATH_USE_LINK_PATH ON)
else()
  # Debian's libtorch-dev puts the C++ API under torch/csrc/api/include.
  find_path(TORCH_INCLUDE_DIR torch/torch.h PATHS /usr/include/torch/csrc/api/include)
  find_library(TORCH_LIBRARY torch)
  find_library(TORCH_CPU_LIBRARY torch_cpu)
  find_library(C10_LIBRARY c10)
  find_library(TORCH_CUDA_LIBRARY torch_cuda)
  if(NOT TORCH_INCLUDE_DIR OR NOT TORCH_LIBRARY OR NOT TORCH_CPU_LIBRARY OR NOT C10_LIBRARY)
    message(FATAL_ERROR "modeld: libtorch not found; run scripts/install-deps.sh")
  endif()
  set(_torch_includes "${TORCH_INCLUDE_DIR};/usr/include")
  set(_torch_libs ${TORCH_LIBRARY} ${TORCH_CPU_LIBRARY} ${C10_LIBRARY})
  if(TORCH_CUDA_LIBRARY)
    # c10_cuda: allocator statistics and emptyCache; cudart: pinned host buffers.
    find_library(C10_CUDA_LIBRARY c10_cuda)
    find_library(CUDART_LIBRARY cudart PATHS /usr/local/cuda/lib64)
    list(APPEND _torch_libs "$<LINK_LIBRARY:modeld_no_as_needed,${TORCH_CUDA_LIBRARY}>")
    if(C10_CUDA_LIBRARY)
      list(APPEND _torch_libs ${C10_CUDA_LIBRARY})
    endif()
    if(CUDART_LIBRARY)
      set_target_properties(deps::cudart PROPERTIES INTERFACE_LINK_LIBRARIES "${CUDART_LIBRARY}")
      list(APPEND _torch_libs deps::cudart)
    endif()
    set(MODELD_TORCH_HAS_CUDA ON CACHE INTERNAL "")
  else()
    set(MODELD_TORCH_HAS_CUDA OFF CACHE INTERNAL "")
  endif()
endif()

if(MODELD_TORCH_REQUIRE_CUDA AND NOT MODELD_TORCH_HAS_CUDA)
  message(FATAL_ERROR "modeld: MODELD_TORCH_REQUIRE_CUDA is set, but the libtorch found has no CUDA "
    "(no torch_cuda and c10_cuda)")
endif()
set_target_properties(deps::torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_torch_includes}"
  INTERFACE_LINK_LIBRARIES "${_torch_libs}"
  INTERFACE_COMPILE_DEFINITIONS "$<$<BOOL:${MODELD_TORCH_HAS_CUDA}>:MODELD_TORCH_HAS_CUDA>")
