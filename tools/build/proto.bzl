"""mcmesh_proto_library: compiles .proto files with Debian's protoc and grpc_cpp_plugin.

Bazel's own proto rules would download protobuf sources; this macro runs the system protoc in a
genrule and wraps the generated code in a cc_library linked against the system libraries.
"""

def mcmesh_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    """Generates <name> (cc_library) from srcs.

    Args:
      name: the cc_library name.
      srcs: .proto files in this package.
      deps: other mcmesh_proto_library targets whose protos these import.
      grpc: also generate gRPC service stubs (.grpc.pb.h/.cc).
      visibility: visibility of the cc_library.
    """
    outs = []
    hdrs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        hdrs.append(base + ".pb.h")
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
            hdrs.append(base + ".grpc.pb.h")

    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) "

    # Import paths are relative to the repository root. When another workspace builds these
    # protos (it refers to mcmesh as @mcmesh), that root is external/mcmesh in the execroot, and
    # the declared outputs live under $(GENDIR)/external/mcmesh.
    repo = native.repository_name()
    root = "." if repo == "@" else "external/" + repo[1:]
    out_dir = "$(GENDIR)" if repo == "@" else "$(GENDIR)/" + root
    if grpc:
        grpc_flags = grpc_flags.replace("--grpc_out=$(GENDIR)", "--grpc_out=" + out_dir)

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = "protoc -I" + root + " -I/usr/include --cpp_out=" + out_dir + " " + grpc_flags +
              " ".join(["$(location %s)" % s for s in srcs]),
        message = "protoc " + name,
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + [d + "_srcs" for d in deps],
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = hdrs,
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc"] if grpc else []),
        visibility = visibility,
    )
