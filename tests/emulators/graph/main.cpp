// graph-emulator: see lib/include/graph_emulator/server.hpp and README.md.
#include <exception>
#include <iostream>

#include "graph_emulator/server.hpp"

int main(int argc, char** argv) {
  graph_emulator::Options options;
  if (auto error = graph_emulator::parse_args(argc, argv, options)) {
    std::cerr << "graph-emulator: " << *error << "\n"
              << "usage: graph-emulator --listen 127.0.0.1:PORT --db FILE "
                 "[--tls-cert F --tls-key F] [--authority URL [--authority-ca F]] [--csdl F]\n";
    return 2;
  }
  try {
    return graph_emulator::run(options);
  } catch (const std::exception& e) {
    std::cerr << "graph-emulator: " << e.what() << "\n";
    return 1;
  }
}
