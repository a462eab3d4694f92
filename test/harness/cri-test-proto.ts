import { criProto } from '../../src/installer/cri/cri-proto.ts';

// The container calls of CRI v1 that tests use to run a workload through an installed shim, on
// top of the installer's own subset (the installer itself never runs a container). Field numbers
// follow k8s.io/cri-api's api.proto.

export const CRI_TEST_PROTO = criProto({
  rpcs: `  rpc CreateContainer(CreateContainerRequest) returns (CreateContainerResponse) {}
  rpc StartContainer(ContainerIdRequest) returns (Empty) {}
  rpc ContainerStatus(ContainerStatusRequest) returns (ContainerStatusResponse) {}
`,
  messages: `
message ContainerMetadata {
  string name = 1;
  uint32 attempt = 2;
}
message ImageSpec { string image = 1; }
message ContainerConfig {
  ContainerMetadata metadata = 1;
  ImageSpec image = 2;
  repeated string command = 3;
  repeated string args = 4;
  string log_path = 11;
}
message CreateContainerRequest {
  string pod_sandbox_id = 1;
  ContainerConfig config = 2;
  PodSandboxConfig sandbox_config = 3;
}
message CreateContainerResponse { string container_id = 1; }
message ContainerIdRequest { string container_id = 1; }
message ContainerStatusRequest {
  string container_id = 1;
  bool verbose = 2;
}
enum ContainerState {
  CONTAINER_CREATED = 0;
  CONTAINER_RUNNING = 1;
  CONTAINER_EXITED = 2;
  CONTAINER_UNKNOWN = 3;
}
message ContainerStatus {
  string id = 1;
  ContainerState state = 3;
  int32 exit_code = 7;
  string reason = 10;
  string message = 11;
}
message ContainerStatusResponse {
  ContainerStatus status = 1;
  map<string, string> info = 2;
}
`,
});
