# The subsd binary on a distroless base (no shell, runs as nonroot).
# compose.yaml builds it; `docker build -t subsd .` works alone too.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO off: a static binary for distroless/static. The time zone database is
# embedded (cmd/subsd imports time/tzdata).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/subsd ./cmd/subsd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/subsd /usr/local/bin/subsd
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/subsd"]
CMD ["serve"]
