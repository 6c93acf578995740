# surveybox build and test entry points. CI runs .ci/run, which runs `make test`.
GO ?= go
export SURVEYBOX_CACHE ?= $(HOME)/.cache/surveybox
GOFLAGS_TEST ?= -count=1 -timeout 30m
# FUZZ: list of "pkg:FuzzName" pairs run for FUZZTIME each after the tests,
# e.g. FUZZ = ./internal/ie:FuzzParseIEs ./internal/testbed:FuzzParseIWScan
FUZZ ?=
FUZZTIME ?= 20s

.PHONY: all test vet testbed-assets image bench clean fuzz

all: test

testbed-assets:
	@internal/testbed/fetch-assets.sh >/dev/null
	@echo "testbed assets: $(SURVEYBOX_CACHE)"

vet:
	$(GO) vet ./...

test: testbed-assets vet
	$(GO) test $(GOFLAGS_TEST) ./...
	@$(MAKE) --no-print-directory fuzz

fuzz:
	@set -e; for f in $(FUZZ); do \
		pkg=$${f%%:*}; name=$${f#*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Placeholder: will build the bootable appliance image.
image:
	mkdir -p build
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o build/appliance-arm64 ./appliance

bench: testbed-assets
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 30m ./...

clean:
	rm -rf build
	$(GO) clean -testcache
