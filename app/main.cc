// mcmesh entry point: the stock binary, with the built-in filters only.
#include "app/run.h"

int main(int argc, char** argv) { return mcmesh::runMcmesh(argc, argv, nullptr); }
