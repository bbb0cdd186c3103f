// A process that only holds an MqttSink connection: the last-will test kills it with SIGKILL.
// Usage: vlrface_mqtt_probe PORT CAMERA
#include <chrono>
#include <string>
#include <thread>

#include "mqtt_sink.hpp"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  vlrface::events::MqttOptions o;
  o.port = std::stoi(argv[1]);
  o.topics.camera = argv[2];
  vlrface::events::MqttSink sink(o, [] { return std::vector<std::string>{}; });
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
