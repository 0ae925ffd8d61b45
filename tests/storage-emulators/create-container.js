// Creates a blob container in Azurite (the storage tests' Azure emulator), as an
// operator creates one before pointing Loki or Skald at it: neither creates containers.
// Usage: node create-container.js CONNECTION_STRING CONTAINER
const { BlobServiceClient } = require("@azure/storage-blob");

async function main() {
  const [connection, container] = process.argv.slice(2);
  const service = BlobServiceClient.fromConnectionString(connection);
  await service.getContainerClient(container).createIfNotExists();
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
