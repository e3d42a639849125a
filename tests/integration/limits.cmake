# The limits helper's tests (issue 6, "Limits" and "Durability and lifecycle"):
#   integration.limits            every limit with a config that lowers it (test_limits.py)
#   integration.limits.lifecycle  SIGTERM with many Socket.IO clients, SIGHUP with connected
#                                 clients, kill -9 during Socket.IO acks (test_limits_lifecycle.py)
if(TARGET socketio AND TARGET sqlite AND TARGET rest)
  set(_lim_env "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
  add_test(NAME integration.limits
           COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits.py)
  set_tests_properties(integration.limits PROPERTIES ENVIRONMENT "${_lim_env}" TIMEOUT 300)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_lifecycle.py)
    add_test(NAME integration.limits.lifecycle
             COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_lifecycle.py)
    set_tests_properties(integration.limits.lifecycle PROPERTIES ENVIRONMENT "${_lim_env}"
                         TIMEOUT 300)
  endif()
endif()
