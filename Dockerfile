# One image for every telemetry service: docker compose runs it with a
# different subcommand per service.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/telemetry ./cmd/telemetry

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/telemetry /usr/local/bin/telemetry
COPY deploy/ /etc/telemetry/
USER nonroot
ENTRYPOINT ["/usr/local/bin/telemetry"]
