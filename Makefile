# lsdseg - a portable C99 reference implementation of LSD-seg.
#
#   make                 library (liblsdseg.a) and the lsdseg command
#   make test            every test program; ends with "N passed, N failed"
#   make check-slow      the slower checks (long gradient sweeps, full-size goldens), then
#                        the unit tests under qemu on riscv64 and i686 (SLOW_CROSS)
#   make bench           benchmarks; prints a table and writes bench/results.csv
#   make demo            the built-in synthetic-to-real demo
#   make golden          regenerates golden/ with PyTorch (needs python3-torch)
#   make fuzz            runs the libFuzzer targets for FUZZ_SECONDS each (clang)
#   make test-cross ARCH=s390x|aarch64|riscv64|i686   unit tests under qemu-user
#   make install         PREFIX=/usr/local, DESTDIR honoured
#
# Switches: CC, CFLAGS, LDFLAGS, PRECISION=float|double, OPENMP=1|0 (default: on
# when the compiler accepts -fopenmp), SANITIZE=1, NATIVE=1 (-march=native),
# WERROR=1 (warnings are errors; CI sets it), OPENCL=1 (optional backend), MPI=1
# (data-parallel training over MPI, ref/dist.c: builds with mpicc; `make MPI=1 TESTS=mpi test`).

PRECISION ?= float
SANITIZE  ?= 0
NATIVE    ?= 0
WERROR    ?= 0
OPENCL    ?= 0
MPI       ?= 0
PREFIX    ?= /usr/local
PYTHON    ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
FUZZ_SECONDS ?= 60

# MPI's compiler wrapper (Debian: libopenmpi-dev); without MPI=1 no MPI header is needed
ifeq ($(MPI),1)
CC := mpicc
endif

IS_TCC := $(shell $(CC) -v 2>&1 | grep -q tcc && echo 1 || echo 0)
# $(call cc_flag,FLAG): FLAG where $(CC) takes it without a warning (an empty program
# compiled with -Werror), else nothing
cc_flag = $(shell printf 'int main(void){return 0;}' | $(CC) -Werror $(1) -x c - -o /dev/null >/dev/null 2>&1 && echo $(1))
ifeq ($(IS_TCC),1)
OPENMP ?= 0
else
OPENMP ?= $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif

CCNAME := $(notdir $(firstword $(CC)))
BUILD  ?= build/$(CCNAME)-$(PRECISION)-omp$(OPENMP)$(if $(filter 1,$(SANITIZE)),-san)$(if $(filter 1,$(NATIVE)),-native)$(if $(filter 1,$(OPENCL)),-ocl)

# _FILE_OFFSET_BITS=64: 32-bit builds (i686) otherwise fail readdir/stat with EOVERFLOW on
# file systems with 64-bit inode numbers (found: datasets and checkpoints not listed under i686)
BASEFLAGS := -std=c99 -pedantic -Wall -Wextra -O2 -D_POSIX_C_SOURCE=200809L -D_FILE_OFFSET_BITS=64
ifneq ($(IS_TCC),1)
BASEFLAGS += -ffp-contract=off -fno-fast-math
# gcc's -std=c99 evaluates float expressions in double on some targets (s390x:
# FLT_EVAL_METHOD 1); -fexcess-precision=fast rounds every float operation to float
# as x86-64 does, so the bits agree everywhere (clang does this already and rejects it)
BASEFLAGS += $(call cc_flag,-fexcess-precision=fast)
# gcc's -O2 vectorizes only the loops its "very cheap" cost model accepts; the dynamic model
# also vectorizes the element-wise layers (ReLU and its backward, bias adds, copies), 10-20%
# of the demo's inference. Vectorizing reorders no floating-point sum (that would need
# -fassociative-math): the bits stay the same (tests/test_determinism.c). clang vectorizes at
# -O2 already and rejects the flag.
BASEFLAGS += $(call cc_flag,-fvect-cost-model=dynamic)
# gcc assumes by default that a floating-point operation may trap (-ftrapping-math), so it
# keeps a branch where a select's side needs arithmetic (LeakyReLU's x > 0 ? x : x * slope,
# its backward, ReLU's backward): those loops stayed scalar, a branch per element. clang
# assumes no traps by default. lsdseg reads no floating-point exception flags and the option
# changes no value (the vectorized select picks the same one; tests/test_determinism.c).
BASEFLAGS += $(call cc_flag,-fno-trapping-math)
# C's sqrt must set errno for a negative argument, so gcc and clang keep a branch to the
# library call beside each square root and vectorize no loop with one (Adam's update, the
# normalizations' 1 / sqrt(var + eps)). lsdseg reads errno after no math function, and the
# square root is correctly rounded either way: the values do not change.
BASEFLAGS += $(call cc_flag,-fno-math-errno)
DEPFLAGS = -MMD -MP
else
DEPFLAGS = -MD -MF $(@:.o=.d)
endif
ifeq ($(PRECISION),double)
BASEFLAGS += -DLSD_DOUBLE
else ifneq ($(PRECISION),float)
$(error PRECISION must be float or double, not '$(PRECISION)')
endif
ifeq ($(OPENMP),1)
BASEFLAGS += -fopenmp
OMPLIBS := -fopenmp
else ifneq ($(IS_TCC),1)
# without OpenMP the '#pragma omp' lines are simply ignored
BASEFLAGS += -Wno-unknown-pragmas
endif
ifeq ($(SANITIZE),1)
BASEFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANLIBS := -fsanitize=address,undefined
endif
ifeq ($(NATIVE),1)
BASEFLAGS += -march=native
endif
ifeq ($(WERROR),1)
BASEFLAGS += -Werror
endif
ifeq ($(MPI),1)
BASEFLAGS += -DLSD_MPI
endif
ifeq ($(OPENCL),1)
BASEFLAGS += -DLSD_OPENCL -DLSD_CL_INSTALL_DIR="\"$(PREFIX)/share/lsdseg/kernels\""
CLLIBS := -lOpenCL
endif

ALL_CFLAGS  := $(BASEFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(OMPLIBS) $(SANLIBS) $(LDFLAGS)
LIBS        := $(CLLIBS) -lm -lpthread

LIB_SRC   := $(sort $(wildcard tensor/*.c layers/*.c gan/*.c data/*.c))
ifeq ($(OPENCL),1)
LIB_SRC   += $(sort $(wildcard opencl/*.c))
endif
REF_SRC   := $(sort $(wildcard ref/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
REF_OBJ   := $(REF_SRC:%.c=$(BUILD)/%.o)
# TESTS=name1 name2 ... runs a subset (tests/test_<name>.c)
TEST_BIN  := $(if $(TESTS),$(TESTS:%=$(BUILD)/tests/test_%),$(TEST_SRC:tests/%.c=$(BUILD)/tests/%))
# the unit tests that test-cross runs under qemu: the numerical core and the file formats
# (the training-loop, command-line and Python-driven tests run natively only)
UNIT_TESTS := tensor gemm rng mathfn determinism safetensors inflate png conv pool shape \
              activation norm dropout loss optim synth labels transform metrics
LIBA      := $(BUILD)/liblsdseg.a
LSDSEG    := $(BUILD)/lsdseg

.SECONDARY:
.PHONY: all test check-slow bench demo golden fuzz clean install test-cross tests info
all: $(LSDSEG) lsdseg

info:
	@echo "CC=$(CC) PRECISION=$(PRECISION) OPENMP=$(OPENMP) SANITIZE=$(SANITIZE) NATIVE=$(NATIVE) MPI=$(MPI) BUILD=$(BUILD)"

# objects are rebuilt when the flags change: $(BUILD)/flags holds the ones they were built with
FLAGS_STAMP := $(BUILD)/flags
$(shell mkdir -p $(BUILD); echo '$(CC) $(ALL_CFLAGS)' | cmp -s - $(FLAGS_STAMP) || echo '$(CC) $(ALL_CFLAGS)' > $(FLAGS_STAMP))

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(LSDSEG): $(REF_OBJ) $(LIBA)
	$(CC) $(ALL_CFLAGS) $(REF_OBJ) $(LIBA) $(ALL_LDFLAGS) $(LIBS) -o $@

# a copy of the command at the top of the tree, for convenience
lsdseg: $(LSDSEG)
	cp $(LSDSEG) lsdseg

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/harness.o $(LIBA)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/tests/harness.o $(LIBA) $(ALL_LDFLAGS) $(LIBS) -o $@

tests: $(TEST_BIN) $(LSDSEG)

# RUNNER is a command prefix (qemu-s390x for cross tests); LSD_SLOW=1 enables slow checks
# LSD_LSDSEG is the lsdseg program for the tests that run it (natively only: under
# qemu those checks skip visibly; the library they exercise is tested there directly)
test: tests
	@LSD_TMP=$(BUILD)/tmp LSD_LSDSEG="$(if $(RUNNER),,$(LSDSEG))" sh tests/run.sh "$(RUNNER)" $(TEST_BIN)

# the slow checks, then the unit tests under qemu-user on the architectures CI does not run
# (riscv64, i686; float and double), skipped visibly where the cross compiler or qemu is missing
SLOW_CROSS ?= riscv64 i686
check-slow: tests
	@LSD_SLOW=1 LSD_TMP=$(BUILD)/tmp LSD_LSDSEG="$(if $(RUNNER),,$(LSDSEG))" sh tests/run.sh "$(RUNNER)" $(TEST_BIN)
	@if [ -z "$(RUNNER)" ]; then for a in $(SLOW_CROSS); do \
	  case $$a in s390x) t=s390x-linux-gnu q=qemu-s390x;; aarch64) t=aarch64-linux-gnu q=qemu-aarch64;; \
	    riscv64) t=riscv64-linux-gnu q=qemu-riscv64;; i686) t=i686-linux-gnu q=qemu-i386;; esac; \
	  if command -v $$t-gcc >/dev/null && command -v $$q >/dev/null; then \
	    for p in float double; do echo "== cross $$a $$p"; \
	      $(MAKE) --no-print-directory test-cross ARCH=$$a PRECISION=$$p >$(BUILD)/cross.log 2>&1; rc=$$?; \
	      awk '/^FAIL|^SKIP|passed, /' $(BUILD)/cross.log; [ $$rc = 0 ] || exit 1; done; \
	  else echo "SKIP cross $$a: $$t-gcc or $$q is not installed (Debian: gcc-$$a-linux-gnu, qemu-user)"; fi; \
	done; fi

# ---- cross-compiled unit tests under qemu-user (Debian's gcc-ARCH-linux-gnu, qemu-user)
CROSS_TRIPLE_s390x   := s390x-linux-gnu
CROSS_TRIPLE_aarch64 := aarch64-linux-gnu
CROSS_TRIPLE_riscv64 := riscv64-linux-gnu
CROSS_TRIPLE_i686    := i686-linux-gnu
# x87 arithmetic would round differently from x86-64: use SSE2 on i686
CROSS_CFLAGS_i686    := -msse2 -mfpmath=sse
# qemu-user's name of each architecture (qemu calls 32-bit x86 i386)
CROSS_QEMU_s390x     := qemu-s390x
CROSS_QEMU_aarch64   := qemu-aarch64
CROSS_QEMU_riscv64   := qemu-riscv64
CROSS_QEMU_i686      := qemu-i386
test-cross:
	@test -n "$(ARCH)" || { echo "usage: make test-cross ARCH=s390x|aarch64|riscv64|i686"; exit 2; }
	$(MAKE) test TESTS="$(UNIT_TESTS) ascii" CC=$(CROSS_TRIPLE_$(ARCH))-gcc OPENMP=0 LDFLAGS=-static \
	    CFLAGS="$(CROSS_CFLAGS_$(ARCH)) $(CFLAGS)" \
	    BUILD=build/cross-$(ARCH)-$(PRECISION) RUNNER="$(CROSS_QEMU_$(ARCH)) -L /usr/$(CROSS_TRIPLE_$(ARCH))" \
	    LSD_CROSS=$(ARCH)

# ---- benchmarks (OpenBLAS and PyTorch only here, never dependencies)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBA)
	$(CC) $(ALL_CFLAGS) $< $(LIBA) $(ALL_LDFLAGS) $(LIBS) -ldl -o $@
bench: $(BENCH_BIN) $(LSDSEG)
	@LSD_LSDSEG=$(LSDSEG) PYTHON=$(PYTHON) sh bench/run.sh $(BENCH_BIN)

demo: $(LSDSEG)
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} $(LSDSEG) demo $(DEMO_ARGS)

golden:
	$(PYTHON) golden/gen.py

# ---- libFuzzer targets (clang): tests/fuzz_*.c, each defines LLVMFuzzerTestOneInput
FUZZ_SRC := $(sort $(wildcard tests/fuzz_*.c))
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -std=c99 -g -O1 -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer,address,undefined
fuzz:
	@mkdir -p $(FUZZ_BUILD)
	@for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  clang $(FUZZ_FLAGS) $$f $(LIB_SRC) -lm -lpthread -o $(FUZZ_BUILD)/$$n || exit 1; \
	  sh tests/fuzz_seed.sh $$n $(FUZZ_BUILD)/corpus-$$n || exit 1; \
	  echo "== $$n for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      $(FUZZ_BUILD)/corpus-$$n tests/fuzz-regress/$$n || exit 1; \
	done

install: $(LSDSEG) $(LIBA)
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/lsdseg
	cp $(LSDSEG) $(DESTDIR)$(PREFIX)/bin/lsdseg
	cp $(LIBA) $(DESTDIR)$(PREFIX)/lib/liblsdseg.a
	for d in tensor layers gan data; do mkdir -p $(DESTDIR)$(PREFIX)/include/lsdseg/$$d; \
	  cp $$d/*.h $(DESTDIR)$(PREFIX)/include/lsdseg/$$d/ 2>/dev/null || true; done
ifeq ($(OPENCL),1)
	mkdir -p $(DESTDIR)$(PREFIX)/share/lsdseg/kernels $(DESTDIR)$(PREFIX)/include/lsdseg/opencl
	cp opencl/kernels/*.cl $(DESTDIR)$(PREFIX)/share/lsdseg/kernels/
	cp opencl/*.h $(DESTDIR)$(PREFIX)/include/lsdseg/opencl/
endif

clean:
	rm -rf build lsdseg bench/results.csv

-include $(LIB_OBJ:.o=.d) $(REF_OBJ:.o=.d) $(TEST_BIN:=.d)
