"""mcmesh_fuzzer: a libFuzzer target plus a replay test of its corpus that runs with any compiler."""

def mcmesh_fuzzer(name, srcs, deps = []):
    """Declares <name> and <name>_replay_test.

    <name> is the libFuzzer binary: tagged manual (plain gcc builds of //... skip it), built with
    `bazel build --config=fuzz //fuzz:<name>` (clang, -fsanitize=fuzzer,address,undefined) and run
    by tools/fuzz.sh. <name>_replay_test runs LLVMFuzzerTestOneInput over corpus/<name>/ (seeds and
    regression inputs) with an ordinary main, so every configuration (gcc, asan, tsan) replays them.

    Args:
      name: target name; its seed corpus lives in corpus/<name>/.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: libraries under test.
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        linkopts = ["-fsanitize=fuzzer"],
        tags = [
            "fuzz_target",
            "manual",
        ],
        deps = deps + [":fuzz_input"],
    )
    native.cc_test(
        name = name + "_replay_test",
        size = "small",
        srcs = srcs + ["replay_main.cc"],
        args = ["fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/**"]),
        deps = deps + [":fuzz_input"],
    )
