# The chat core through the real server, on the memstore fixture (owner:
# core): memstore's mode route, dropped hung calls, id order under
# concurrent posts, the core's metrics.
if(TARGET memstore)
  foreach(_how post worker)
    add_test(NAME integration.core.${_how}
             COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_core.py)
    set_tests_properties(integration.core.${_how} PROPERTIES
      ENVIRONMENT "MEMSTORE_COMPLETE=${_how};PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
      TIMEOUT 120)
  endforeach()
endif()
