# debug.cmake: the debug-mode tests, the compatibility header, and the Valgrind and ASan views
# of pool blocks (included by tests/CMakeLists.txt).

# debug: every misuse the debug mode reports, in both debug modes.
pymt_add_test(debug ENV PYMT_MALLOC=debug)
pymt_add_test_variant(debug malloc_debug PYMT_MALLOC=malloc_debug)
# backtrace_symbols_fd names only exported functions: export the test's own.
set_target_properties(test_debug PROPERTIES ENABLE_EXPORTS ON)

# compat: an extension written with the Python 2.3 names (compat_ext.c) on pymt.
pymt_add_test(compat ENV PYMT_MALLOC=debug)
target_sources(test_compat PRIVATE compat_ext.c)
# a warning there is code written for Python that pymemcompat.h does not take as Python does
set_source_files_properties(compat_ext.c PROPERTIES COMPILE_OPTIONS -Werror)
pymt_add_test_variant(compat pymalloc PYMT_MALLOC=pymalloc)
pymt_add_test_variant(compat malloc_debug PYMT_MALLOC=malloc_debug)

# pymemcompat.h refuses to share a file with Python.h, whichever comes first: with a stand-in
# Python.h always, and with the real one when it is installed.
set(compat_python_dirs ${CMAKE_CURRENT_SOURCE_DIR}/compat_python)
find_package(Python3 QUIET COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c
      "import sysconfig; print(sysconfig.get_path('include'))"
    OUTPUT_VARIABLE compat_python_include OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(compat_python_include AND EXISTS ${compat_python_include}/Python.h)
    list(APPEND compat_python_dirs ${compat_python_include})
  endif()
endif()
set(compat_kind standin)
foreach(dir IN LISTS compat_python_dirs)
  foreach(order first after)
    add_test(NAME compat.refuses_python_h_${order}.${compat_kind}
      COMMAND ${CMAKE_C_COMPILER} -std=c11 -fsyntax-only -I${PROJECT_SOURCE_DIR}/include
              -I${dir} ${CMAKE_CURRENT_SOURCE_DIR}/compat_python_${order}.c)
  endforeach()
  set_tests_properties(compat.refuses_python_h_first.${compat_kind} PROPERTIES LABELS unit
    PASS_REGULAR_EXPRESSION "cannot be used together with Python.h")
  set_tests_properties(compat.refuses_python_h_after.${compat_kind} PROPERTIES LABELS unit
    PASS_REGULAR_EXPRESSION "attempt to use (a )?poisoned")
  set(compat_kind real)
endforeach()

# Valgrind: memcheck sees pool blocks as heap blocks (PYMT_VALGRIND builds, valgrind on PATH).
find_program(PYMT_VALGRIND_EXE valgrind)
if(PYMT_VALGRIND AND PYMT_VALGRIND_EXE AND PYMT_SANITIZE STREQUAL "")
  add_executable(test_debug_valgrind test_debug_valgrind.c)
  target_link_libraries(test_debug_valgrind PRIVATE pymt::pymt pymt_internal Threads::Threads)
  add_test(NAME debug_valgrind.read_freed
    COMMAND ${PYMT_VALGRIND_EXE} --tool=memcheck $<TARGET_FILE:test_debug_valgrind> read_freed)
  set_tests_properties(debug_valgrind.read_freed PROPERTIES LABELS unit TIMEOUT 300
    ENVIRONMENT PYMT_MALLOC=pymalloc
    PASS_REGULAR_EXPRESSION "Invalid read of size 1.*inside a block of size 32 free'd")
  add_test(NAME debug_valgrind.clean
    COMMAND ${PYMT_VALGRIND_EXE} --tool=memcheck --error-exitcode=99
            $<TARGET_FILE:test_debug_valgrind> clean)
  set_tests_properties(debug_valgrind.clean PROPERTIES LABELS unit TIMEOUT 300
    ENVIRONMENT PYMT_MALLOC=pymalloc)
endif()

# ASan: the asan build reports faults on pool blocks itself.
if(PYMT_SANITIZE STREQUAL "address")
  pymt_add_test(debug_asan ENV PYMT_MALLOC=pymalloc)
endif()

# Not a test: debug mode against release on malloc/free loops (see the file's header).
add_executable(debug_bench test_debug_bench.c)
target_link_libraries(debug_bench PRIVATE pymt::pymt pymt_internal)
