# The read queue the in-tree storage plugins share (plugins/common/reads.c):
# batching and the sharing of one query among reads of the same page.
add_executable(test_storage_reads ${CMAKE_CURRENT_LIST_DIR}/test_storage_reads.c)
target_link_libraries(test_storage_reads PRIVATE parley_plugin_common ParleySDK::sdk PkgConfig::CMOCKA)
add_test(NAME unit.storage_reads COMMAND test_storage_reads)
set_tests_properties(unit.storage_reads PROPERTIES TIMEOUT 60
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
