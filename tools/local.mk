# Tools: the sample corpus generator used by scripts/demo and the CLI tests.
noinst_PROGRAMS += tools/sample_corpus
tools_sample_corpus_SOURCES = tools/sample_corpus.c
