# The config loader, the schema validator and the host settings (owner:
# config). unit.config.corpus walks tests/fixtures/config/{bad,good}.
foreach(_t tree schema settings corpus)
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_config_${_t}.c)
    continue()
  endif()
  add_executable(test_config_${_t} ${CMAKE_CURRENT_LIST_DIR}/test_config_${_t}.c)
  target_link_libraries(test_config_${_t} PRIVATE parley_core PkgConfig::CMOCKA)
  target_compile_definitions(test_config_${_t} PRIVATE
    PARLEY_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    PARLEY_TEST_CORPUS_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures/config")
  add_test(NAME unit.config.${_t} COMMAND test_config_${_t})
  set_tests_properties(unit.config.${_t} PROPERTIES TIMEOUT 60
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endforeach()
