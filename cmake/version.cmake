# version.cmake: DEFECTOR_GIT_DESCRIBE, `git describe --tags --always --dirty` of the sources when
# they are the top of a git checkout at configure time; empty otherwise (a tarball; a copy inside
# some other repository, whose history is not ours; no git installed). Reconfigure to refresh it.
set(DEFECTOR_GIT_DESCRIBE "")
find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${PROJECT_SOURCE_DIR} rev-parse --show-toplevel
                  OUTPUT_VARIABLE _top OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0)
    file(REAL_PATH "${_top}" _top)
    file(REAL_PATH "${PROJECT_SOURCE_DIR}" _src)
  endif()
  if(_rc EQUAL 0 AND _top STREQUAL _src)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${PROJECT_SOURCE_DIR} describe --tags --always --dirty
                    OUTPUT_VARIABLE DEFECTOR_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
endif()
if(DEFECTOR_GIT_DESCRIBE)
  message(STATUS "defector ${PROJECT_VERSION} (git ${DEFECTOR_GIT_DESCRIBE})")
else()
  message(STATUS "defector ${PROJECT_VERSION} (not a git checkout)")
endif()
