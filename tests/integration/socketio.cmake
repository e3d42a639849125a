# The Socket.IO transport against the real server (owner: socketio helper):
#   integration.socketio.raw     raw WebSocket / polling protocol cases, bad-inputs.md section 3
#   integration.socketio.client  the official socket.io-client (npm ci from tests/socketio's lockfile)
#   integration.socketio.python  Debian's python3-socketio client
#   integration.socketio.default configs/parley.yaml as shipped
#   integration.socketio.slow    slow consumers on the chat fan-out (polling and WebSocket)
#   integration.socketio.storage storage failing or hanging under the chat (memstore fixture)
if(TARGET socketio)
  set(_sio_env "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
  foreach(_t raw client python default slow storage)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_socketio_${_t}.py)
      add_test(NAME integration.socketio.${_t}
               COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_socketio_${_t}.py)
      set_tests_properties(integration.socketio.${_t} PROPERTIES ENVIRONMENT "${_sio_env}"
                           TIMEOUT 300)
    endif()
  endforeach()
endif()
