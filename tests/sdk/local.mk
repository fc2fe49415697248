# SDK checks: headers compile alone; exported symbols are only the intended ones.
TESTS += tests/sdk/headers.sh tests/sdk/symbols.sh
EXTRA_DIST += tests/sdk/headers.sh tests/sdk/symbols.sh
AM_TESTS_ENVIRONMENT += CC='$(CC)'; export CC; CXX='$(CXX)'; export CXX;
