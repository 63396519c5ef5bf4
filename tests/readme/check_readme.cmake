# SPDX-License-Identifier: Apache-2.0
# Checks every fenced code block of a Markdown file (README.md), so that its snippets cannot
# rot. Run by ctest (tests/CMakeLists.txt, test "readme") as
#
#   cmake -DREADME=<file.md> -DWORK_DIR=<dir> -DNVCC=<nvcc> -DCXX=<c++> [...] -P check_readme.cmake
#
# What each block's language gets:
#   cpp, c++, cxx, cu, cuda   compiled (see "C++ blocks" below); warnings are errors
#   python, py                parsed with Python's ast.parse (torch is not needed)
#   sh, bash, shell           bash -n
#   cmake                     parsed by CMake (wrapped in if(FALSE): nothing runs)
#   anything else, or none    listed as not checked
#
# C++ blocks. A block is usually a fragment that uses names it does not declare (device
# pointers, a stream, a count). It says what they are in a prelude: an HTML comment right
# before the block (blank lines may separate them), invisible when the Markdown is rendered:
#
#   <!-- snippet-prelude cu: what the block assumes (the rest of this line is a title)
#   #include <varattn/varattn.hpp>
#   int32_t count;  // the lines up to "-->": anything valid at namespace scope
#   -->
#   ```cpp
#   ...
#   ```
#
# The kind after "snippet-prelude" says how the block is compiled:
#   cu    as CUDA, by nvcc -c for sm_${CUDA_ARCH} (blocks that call forward or build_on_device)
#   cpp   as host C++, by the C++ compiler and clang++ (when found) with -fsyntax-only: the
#         host parts that build in a .cpp file (clang rejects narrowing in braces)
# The generated translation unit is: the block's preprocessor lines (#include ...), then the
# prelude, then the rest of the block as the body of a function. A block without a prelude is
# compiled as it is, as a whole .cu file. #line directives make every diagnostic point at the
# README's own lines. The generated files stay in WORK_DIR for a look.
#
# Inputs (-D):
#   README            the Markdown file
#   WORK_DIR          where the generated files go
#   NVCC              nvcc; NVCC_HOST_COMPILER optional (-ccbin)
#   CUDA_ARCH         default 80
#   HEAD_DIMS         VARATTN_HEAD_DIMS for the compiles, default 64 (one head dim keeps the
#                     kernels that forward instantiates, and so the test, short)
#   INCLUDE_DIRS      list: the include directories a user of varattn::varattn gets (varattn's,
#                     the CUDA Toolkit's: the host compilers need them too)
#   CXX               the host C++ compiler; CLANGXX, PYTHON, BASH optional (their checks are
#                     reported as skipped when absent)
#   EXPECT_FAIL_LINES optional list, for the checker's own test: the README lines (a block's
#                     opening fence, or a bad prelude's first line) that must fail, and only
#                     those; the run then passes when exactly they fail

cmake_minimum_required(VERSION 3.25)

foreach(required IN ITEMS README WORK_DIR NVCC CXX)
  if(NOT DEFINED ${required} OR "${${required}}" STREQUAL "")
    message(FATAL_ERROR "check_readme.cmake: -D${required}=... is required")
  endif()
endforeach()
if(NOT DEFINED CUDA_ARCH OR CUDA_ARCH STREQUAL "")
  set(CUDA_ARCH 80)
endif()
if(NOT DEFINED HEAD_DIMS OR HEAD_DIMS STREQUAL "")
  set(HEAD_DIMS 64)
endif()
get_filename_component(README "${README}" ABSOLUTE)
get_filename_component(readme_name "${README}" NAME)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

list(REMOVE_DUPLICATES INCLUDE_DIRS)
set(include_flags "")
foreach(dir IN LISTS INCLUDE_DIRS)
  if(NOT dir STREQUAL "")
    list(APPEND include_flags "-I${dir}")
  endif()
endforeach()
set(nvcc_command "${NVCC}")
if(DEFINED NVCC_HOST_COMPILER AND NOT NVCC_HOST_COMPILER STREQUAL "")
  list(APPEND nvcc_command -ccbin "${NVCC_HOST_COMPILER}")
endif()
# -Werror all-warnings: nvcc's own front end (it reports narrowing as warning 2361).
list(APPEND nvcc_command -std=c++17 -arch=sm_${CUDA_ARCH} -DVARATTN_HEAD_DIMS=${HEAD_DIMS}
     -Werror all-warnings -Xcompiler=-Wall,-Wextra,-Werror ${include_flags})
set(host_flags -std=c++17 -fsyntax-only -Wall -Wextra -Werror -DVARATTN_HEAD_DIMS=${HEAD_DIMS}
    ${include_flags})

set(failed_lines "")      # README lines (fences, preludes) of the checks that failed
set(failure_notes "")     # one line per failure, for the summary
set(counts_ok 0)
set(counts_skipped "")
set(counts_unchecked "")
set(cpp_blocks 0)

# Records a failure: `line` is the README line the author should look at.
function(fail_at line text)
  list(APPEND failed_lines ${line})
  string(APPEND failure_notes "  ${readme_name}:${line}: ${text}\n")
  message("FAILED ${readme_name}:${line}: ${text}")
  set(failed_lines "${failed_lines}" PARENT_SCOPE)
  set(failure_notes "${failure_notes}" PARENT_SCOPE)
endfunction()

# Runs one check; `what` names it in the log. Output is shown only when it fails.
function(run_check out_ok what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(rc EQUAL 0)
    message(STATUS "ok      ${what}")
    set(${out_ok} TRUE PARENT_SCOPE)
  else()
    message("--- ${what}: exit ${rc}\n${output}---")
    set(${out_ok} FALSE PARENT_SCOPE)
  endif()
endfunction()

# `count` newlines, so that a generated file's line numbers are the README's.
function(newlines out count)
  set(text "")
  if(count GREATER 0)
    string(REPEAT "\n" ${count} text)
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

string(CONCAT prelude_hint
  "A C++ block that uses names it does not declare (pointers, a stream, a count) declares\n"
  "them in a prelude, an HTML comment right before the block:\n"
  "    <!-- snippet-prelude cu: a title for the reader\n"
  "    #include <varattn/varattn.hpp>\n"
  "    int32_t count;  // any namespace-scope code; the block becomes a function body\n"
  "    -->\n"
  "cu: compiled by nvcc; cpp: host C++, checked by the C++ compiler and clang++. The rules are\n"
  "at the top of tests/readme/check_readme.cmake; the generated files are in ${WORK_DIR}.")

# --- C++ block -------------------------------------------------------------------------------
# fence: the line of the opening fence; first: the block's first line; code: its text.
function(check_cpp fence first code language kind prelude prelude_line)
  set(stem "${WORK_DIR}/block_L${fence}")
  set(where "${readme_name}:${fence} (```${language} block)")
  if(kind STREQUAL "")
    set(tu "#line ${first} \"${README}\"\n${code}")
  else()
    # Preprocessor lines go to file scope; they leave a blank line behind, so that one #line
    # keeps the body's numbering.
    set(hoisted "")
    set(body "")
    set(rest "${code}")
    set(line_no ${first})
    while(NOT rest STREQUAL "")
      string(FIND "${rest}" "\n" nl)
      string(SUBSTRING "${rest}" 0 ${nl} line)
      math(EXPR after "${nl} + 1")
      string(SUBSTRING "${rest}" ${after} -1 rest)
      if(line MATCHES "^[ \t]*#")
        string(APPEND hoisted "#line ${line_no} \"${README}\"\n${line}\n")
        string(APPEND body "\n")
      else()
        string(APPEND body "${line}\n")
      endif()
      math(EXPR line_no "${line_no} + 1")
    endwhile()
    set(tu "// Generated by tests/readme/check_readme.cmake from ${README}, block at line ${fence}.\n")
    string(APPEND tu "${hoisted}#line ${prelude_line} \"${README}\"\n${prelude}\n")
    string(APPEND tu "void varattn_readme_block_L${fence}() {\n#line ${first} \"${README}\"\n")
    string(APPEND tu "${body}}\n")
  endif()

  set(all_ok TRUE)
  if(kind STREQUAL "cpp")
    file(WRITE "${stem}.cpp" "${tu}")
    run_check(ok "${where}: ${CXX} -fsyntax-only" "${CXX}" ${host_flags} "${stem}.cpp")
    if(NOT ok)
      set(all_ok FALSE)
    endif()
    if(CLANGXX)
      run_check(ok "${where}: ${CLANGXX} -fsyntax-only" "${CLANGXX}" ${host_flags} "${stem}.cpp")
      if(NOT ok)
        set(all_ok FALSE)
      endif()
    else()
      message(STATUS "skipped ${where}: clang++ (none found)")
      list(APPEND counts_skipped "clang++ for the block at line ${fence}")
      set(counts_skipped "${counts_skipped}" PARENT_SCOPE)
    endif()
  else()
    file(WRITE "${stem}.cu" "${tu}")
    run_check(ok "${where}: nvcc -c -arch=sm_${CUDA_ARCH}" ${nvcc_command} -c "${stem}.cu"
              -o "${stem}.o")
    if(NOT ok)
      set(all_ok FALSE)
    endif()
  endif()
  set(block_ok ${all_ok} PARENT_SCOPE)
endfunction()

# --- the other languages -----------------------------------------------------------------------
function(check_other fence first code language)
  set(stem "${WORK_DIR}/block_L${fence}")
  set(where "${readme_name}:${fence} (```${language} block)")
  math(EXPR pad "${first} - 1")
  set(block_ok TRUE)
  if(language MATCHES "^(python|py)$")
    if(PYTHON)
      newlines(padding ${pad})
      file(WRITE "${stem}.py" "${padding}${code}")
      run_check(ok "${where}: ast.parse" "${PYTHON}" -c
                "import ast, sys\nast.parse(open(sys.argv[1], encoding='utf-8').read(), sys.argv[2])"
                "${stem}.py" "${README}")
      set(block_ok ${ok})
    else()
      message(STATUS "skipped ${where}: no Python interpreter was found")
      set(block_ok SKIPPED)
    endif()
  elseif(language MATCHES "^(sh|bash|shell)$")
    if(BASH)
      newlines(padding ${pad})
      file(WRITE "${stem}.sh" "${padding}${code}")
      run_check(ok "${where}: bash -n" "${BASH}" -n "${stem}.sh")
      set(block_ok ${ok})
    else()
      message(STATUS "skipped ${where}: no bash was found")
      set(block_ok SKIPPED)
    endif()
  elseif(language STREQUAL "cmake")
    math(EXPR pad "${first} - 2")
    newlines(padding ${pad})
    file(WRITE "${stem}.cmake" "if(FALSE)\n${padding}${code}endif()\n")
    run_check(ok "${where}: cmake parse" "${CMAKE_COMMAND}" -P "${stem}.cmake")
    set(block_ok ${ok})
  else()
    set(block_ok UNCHECKED)
  endif()
  set(block_ok ${block_ok} PARENT_SCOPE)
endfunction()

# --- reading the Markdown ----------------------------------------------------------------------
# Whole-string processing only (no CMake lists): code holds ';' and '[', which lists mangle.
file(READ "${README}" text)
string(REPLACE "\r\n" "\n" text "${text}")
if(NOT text MATCHES "\n$")
  string(APPEND text "\n")
endif()

set(rest "${text}")
set(line_no 0)
set(in_block FALSE)
set(in_prelude FALSE)
set(prelude_kind "")      # set while a prelude waits for its block
set(prelude_text "")
set(prelude_line 0)
while(NOT rest STREQUAL "")
  string(FIND "${rest}" "\n" nl)
  string(SUBSTRING "${rest}" 0 ${nl} line)
  math(EXPR after "${nl} + 1")
  string(SUBSTRING "${rest}" ${after} -1 rest)
  math(EXPR line_no "${line_no} + 1")

  if(in_block)
    set(closes FALSE)
    if(line MATCHES "^ *([`~]+) *$")
      string(FIND "${CMAKE_MATCH_1}" "${fence_marker}" at)
      if(at EQUAL 0)
        set(closes TRUE)
      endif()
    endif()
    if(closes)
      set(in_block FALSE)
      if(block_language MATCHES "^(cpp|c\\+\\+|cxx|cu|cuda)$")
        math(EXPR cpp_blocks "${cpp_blocks} + 1")
        math(EXPR code_line "${block_prelude_line} + 1")
        check_cpp(${block_fence} ${block_first} "${block_code}" "${block_language}" "${block_kind}"
                  "${block_prelude}" ${code_line})
        if(NOT block_ok)
          if(block_kind STREQUAL "")
            fail_at(${block_fence} "the ```${block_language} block has no prelude and does not compile as a whole .cu file: fix it, or give it a prelude")
          else()
            fail_at(${block_fence} "the ```${block_language} block (prelude '${block_kind}' at line ${block_prelude_line}) does not compile: fix the block, or what its prelude declares")
          endif()
        else()
          math(EXPR counts_ok "${counts_ok} + 1")
        endif()
      else()
        if(NOT block_kind STREQUAL "")
          fail_at(${block_prelude_line} "a snippet-prelude comes before a ```${block_language} block: preludes are for C++ blocks")
        endif()
        check_other(${block_fence} ${block_first} "${block_code}" "${block_language}")
        if(block_ok STREQUAL "UNCHECKED")
          list(APPEND counts_unchecked "${block_fence}:```${block_language}")
        elseif(block_ok STREQUAL "SKIPPED")
          list(APPEND counts_skipped "the ```${block_language} block at line ${block_fence}")
        elseif(block_ok)
          math(EXPR counts_ok "${counts_ok} + 1")
        else()
          fail_at(${block_fence} "the ```${block_language} block does not pass its check (output above)")
        endif()
      endif()
    else()
      # Drop the fence's indentation from its lines, as Markdown does.
      if(fence_indent GREATER 0 AND line MATCHES "^ ")
        string(REGEX REPLACE "^ {1,${fence_indent}}" "" line "${line}")
      endif()
      string(APPEND block_code "${line}\n")
    endif()
    continue()
  endif()

  if(in_prelude)
    string(FIND "${line}" "-->" close)
    if(close EQUAL -1)
      string(APPEND prelude_text "${line}\n")
    else()
      string(SUBSTRING "${line}" 0 ${close} head)
      string(APPEND prelude_text "${head}\n")
      set(in_prelude FALSE)
    endif()
    continue()
  endif()

  if(line MATCHES "^( *)(```+|~~~+) *([^ `]*)")
    string(LENGTH "${CMAKE_MATCH_1}" fence_indent)
    set(fence_marker "${CMAKE_MATCH_2}")
    string(TOLOWER "${CMAKE_MATCH_3}" block_language)
    set(in_block TRUE)
    set(block_fence ${line_no})
    math(EXPR block_first "${line_no} + 1")
    set(block_code "")
    set(block_kind "${prelude_kind}")
    set(block_prelude "${prelude_text}")
    set(block_prelude_line ${prelude_line})
    set(prelude_kind "")
    continue()
  endif()

  if(line MATCHES "^ *<!-- *snippet-prelude")
    if(NOT prelude_kind STREQUAL "")
      fail_at(${prelude_line} "this snippet-prelude is not followed by a code block")
    endif()
    if(NOT line MATCHES "^ *<!-- *snippet-prelude +(cu|cpp) *:(.*)$")
      fail_at(${line_no} "a snippet-prelude starts '<!-- snippet-prelude cu:' or '<!-- snippet-prelude cpp:'")
      set(prelude_kind "")
      if(NOT line MATCHES "-->")
        set(in_prelude TRUE)   # skip to its end
        set(prelude_text "")
      endif()
      continue()
    endif()
    # The rest of the first line is a title for the reader; the code is on the lines after.
    set(prelude_kind "${CMAKE_MATCH_1}")
    set(prelude_line ${line_no})
    set(prelude_text "")
    if(NOT CMAKE_MATCH_2 MATCHES "-->")
      set(in_prelude TRUE)
    endif()
    continue()
  endif()

  # Anything else that is not blank separates a prelude from the block it was meant for.
  if(NOT prelude_kind STREQUAL "" AND NOT line MATCHES "^[ \t]*$")
    fail_at(${prelude_line} "this snippet-prelude is not followed by a code block (line ${line_no} comes between)")
    set(prelude_kind "")
  endif()
endwhile()

if(in_block)
  fail_at(${block_fence} "this code block is never closed")
endif()
if(in_prelude OR NOT prelude_kind STREQUAL "")
  fail_at(${prelude_line} "this snippet-prelude is not followed by a code block")
endif()
if(cpp_blocks EQUAL 0)
  fail_at(1 "found no ```cpp block at all: is the extraction broken?")
endif()

# --- verdict ---------------------------------------------------------------------------------
list(LENGTH failed_lines failures)
message(STATUS "${readme_name}: ${counts_ok} checks passed, ${failures} failed, ${cpp_blocks} C++ blocks")
foreach(skipped IN LISTS counts_skipped)
  message(STATUS "skipped: ${skipped}")
endforeach()
if(counts_unchecked)
  string(REPLACE ";" ", " unchecked "${counts_unchecked}")
  message(STATUS "not checked (no check for their language): ${unchecked}")
endif()

if(DEFINED EXPECT_FAIL_LINES)
  list(SORT failed_lines COMPARE NATURAL)
  list(REMOVE_DUPLICATES failed_lines)
  set(expected "${EXPECT_FAIL_LINES}")
  list(SORT expected COMPARE NATURAL)
  if(NOT failed_lines STREQUAL expected)
    message(FATAL_ERROR "expected failures at lines ${expected}, got ${failed_lines}")
  endif()
  message(STATUS "the failures are exactly the expected ones (lines ${expected})")
elseif(failures GREATER 0)
  message("\n${failures} check(s) of ${readme_name} failed (output above):\n"
          "${failure_notes}\n${prelude_hint}\n")
  message(FATAL_ERROR "${failures} check(s) of ${readme_name} failed")
endif()
