# The chat core's unit tests (owner: core). Each links the host core
# library and cmocka; chat and storage_queue drive a real libuv loop.
foreach(_t msgid validate metrics storage_queue chat)
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_${_t}.c)
    continue()
  endif()
  add_executable(test_${_t} ${CMAKE_CURRENT_LIST_DIR}/test_${_t}.c)
  target_link_libraries(test_${_t} PRIVATE parley_core PkgConfig::CMOCKA)
  add_test(NAME unit.${_t} COMMAND test_${_t})
  set_tests_properties(unit.${_t} PROPERTIES TIMEOUT 60
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endforeach()
