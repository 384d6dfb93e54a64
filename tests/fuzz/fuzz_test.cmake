# youma_add_fuzz_test(NAME BINARY SEEDS): a bounded libFuzzer run as a ctest test.
# New inputs go to the build tree; the seeds in the repository stay untouched.
function(youma_add_fuzz_test name binary seeds)
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus)
  file(MAKE_DIRECTORY ${work})
  add_test(NAME ${name}
    COMMAND ${binary} -max_total_time=${YOUMA_FUZZ_SECONDS} -max_len=512 -print_final_stats=1
            ${work} ${seeds})
endfunction()
