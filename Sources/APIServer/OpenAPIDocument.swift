/// The OpenAPI 3.0.3 document of the API, served at `/openapi.json`: written by hand next to the routes it
/// describes, and checked against the running server by schemathesis (APIServerTests) and by the tests that
/// request every documented operation. A route, parameter or field added to the server is added here too.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.0.3",
  "info": {
    "title": "TernFlux HTTP API",
    "version": "1",
    "description": "Submit batches of text-to-image jobs, follow their progress, browse the images. Served by `ternflux serve` (docs/api.md). Errors always have the body `Error`. With a tokens file, every /v1 operation needs `Authorization: Bearer TOKEN`; a `read` token may GET, a `submit` token may also POST. Without one the server has no authentication, listens on loopback only and answers only requests addressed to a loopback Host. A request with an Origin other than the server's own is refused (403)."
  },
  "servers": [{"url": "/"}],
  "tags": [
    {"name": "batches", "description": "Submit, list, follow and cancel batches."},
    {"name": "jobs", "description": "One job and its image."},
    {"name": "service", "description": "Health, this document and the web gallery; no token needed."}
  ],
  "paths": {
    "/healthz": {
      "get": {
        "tags": ["service"], "operationId": "health", "summary": "Whether PostgreSQL answers", "security": [],
        "responses": {
          "200": {"description": "PostgreSQL answers.", "content": {"text/plain": {"schema": {"type": "string", "enum": ["ok\n"]}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/openapi.json": {
      "get": {
        "tags": ["service"], "operationId": "openapi", "summary": "This document", "security": [],
        "responses": {"200": {"description": "The OpenAPI 3.0.3 document.", "content": {"application/json": {"schema": {"type": "object"}}}}, "403": {"$ref": "#/components/responses/Forbidden"}}
      }
    },
    "/": {
      "get": {
        "tags": ["service"], "operationId": "gallery", "summary": "The web gallery (batches, progress, images, submit form)", "security": [],
        "responses": {"200": {"description": "The page; it loads /assets/app.js and /assets/app.css.", "content": {"text/html": {"schema": {"type": "string"}}}}, "403": {"$ref": "#/components/responses/Forbidden"}}
      }
    },
    "/assets/app.js": {
      "get": {
        "tags": ["service"], "operationId": "galleryScript", "summary": "The gallery's script", "security": [],
        "responses": {"200": {"description": "JavaScript.", "content": {"text/javascript": {"schema": {"type": "string"}}}}, "403": {"$ref": "#/components/responses/Forbidden"}}
      }
    },
    "/assets/app.css": {
      "get": {
        "tags": ["service"], "operationId": "galleryStyles", "summary": "The gallery's styles", "security": [],
        "responses": {"200": {"description": "CSS.", "content": {"text/css": {"schema": {"type": "string"}}}}, "403": {"$ref": "#/components/responses/Forbidden"}}
      }
    },
    "/assets/favicon.svg": {
      "get": {
        "tags": ["service"], "operationId": "galleryIcon", "summary": "The gallery's icon", "security": [],
        "responses": {"200": {"description": "SVG.", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}, "403": {"$ref": "#/components/responses/Forbidden"}}
      }
    },
    "/v1/batches": {
      "get": {
        "tags": ["batches"], "operationId": "listBatches", "summary": "The newest batches' progress",
        "parameters": [
          {"name": "limit", "in": "query", "description": "How many batches, newest first (default 20).", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}
        ],
        "responses": {
          "200": {"description": "Progress documents, newest batch first.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchList"}}},
                  "links": {"GetBatch": {"operationId": "getBatch", "parameters": {"batch_id": "$response.body#/batches/0/batch_id"}}, "ListBatchJobs": {"operationId": "listBatchJobs", "parameters": {"batch_id": "$response.body#/batches/0/batch_id"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "post": {
        "tags": ["batches"], "operationId": "submitBatch", "summary": "Submit a batch",
        "description": "Validated exactly as `ternflux submit` validates a file: every line is checked before anything is written, and every problem of every line is listed (line 0 is the batch itself: its settings, the body's shape). Two forms. A batch file as the body (`application/x-ndjson` or `application/jsonl`: JSONL; `text/csv`: CSV with a header; `text/plain`: JSONL when the first line is an object, else one prompt per line), with the batch settings as the query parameters below. Or `application/json` (`BatchSubmission`), where `jobs[N-1]` is line N and the settings are in the body; the query string must then be empty. A query value that is no value of its type is a 400; a value out of its range is one of the batch's problems (422). With `batch_key`, submitting the same input again answers 200 with the first batch's id and writes nothing new (it produces the jobs an earlier submit could not get to Kafka); the same key with other input is a 409.",
        "parameters": [
          {"name": "name", "in": "query", "description": "The batch's name (default `api`).", "schema": {"type": "string", "maxLength": 200}},
          {"name": "steps", "in": "query", "description": "Denoising steps of lines without them (default: the model's).", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
          {"name": "width", "in": "query", "description": "Image width of lines without one (default: the model's).", "schema": {"type": "integer", "minimum": 16, "maximum": 2048, "multipleOf": 16}},
          {"name": "height", "in": "query", "description": "Image height of lines without one (default: the model's).", "schema": {"type": "integer", "minimum": 16, "maximum": 2048, "multipleOf": 16}},
          {"name": "guidance", "in": "query", "description": "Guidance of lines without one (default: the model's).", "schema": {"type": "number", "minimum": 0, "maximum": 30}},
          {"name": "negative_prompt", "in": "query", "description": "Negative prompt of lines without one.", "schema": {"type": "string", "maxLength": 4096}},
          {"name": "true_cfg_scale", "in": "query", "description": "Classifier-free guidance scale of lines without one; 1 is none.", "schema": {"type": "number", "minimum": 1, "maximum": 50}},
          {"name": "images", "in": "query", "description": "Images of each line without its own `images` (seeds seed … seed+N−1; default 1).", "schema": {"type": "integer", "minimum": 1, "maximum": 64}},
          {"name": "seed", "in": "query", "description": "Seed of lines without one (default: derived from the batch id and the line).", "schema": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 9223372036854775807}},
          {"name": "model", "in": "query", "description": "Model of lines without one (default `default`).", "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
          {"name": "max_attempts", "in": "query", "description": "Attempts per job before it fails for good (default 3).", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
          {"name": "batch_key", "in": "query", "description": "Idempotency key (see above).", "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
          {"name": "webhook_url", "in": "query", "description": "POST the batch summary here once every job is finished (signed; see docs/api.md). A batch file's first line `{\"batch\": {\"name\": …, \"webhook_url\": …}}` may set it too; this parameter wins.", "schema": {"$ref": "#/components/schemas/WebhookURL"}},
          {"name": "allow_unknown_fields", "in": "query", "description": "Ignore JSONL fields and CSV columns that are not job fields instead of refusing the line (a key given twice is refused either way).", "schema": {"type": "boolean"}}
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BatchSubmission"}},
            "application/x-ndjson": {"schema": {"type": "string", "description": "JSONL: one JobLine object per line."}},
            "application/jsonl": {"schema": {"type": "string", "description": "JSONL: one JobLine object per line."}},
            "text/csv": {"schema": {"type": "string", "description": "CSV with a header row naming JobLine fields; a `prompt` column is required."}},
            "text/plain": {"schema": {"type": "string", "description": "One prompt per line, or JSONL when the first line is a JSON object."}}
          }
        },
        "responses": {
          "201": {"description": "The batch is stored and its jobs are in Kafka.", "headers": {"Location": {"description": "The batch's progress document.", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitOutcome"}}},
                  "links": {"GetBatch": {"$ref": "#/components/links/BatchFromSubmit"}, "ListBatchJobs": {"$ref": "#/components/links/JobsFromSubmit"}, "CancelBatch": {"$ref": "#/components/links/CancelFromSubmit"}}},
          "200": {"description": "`batch_key` names a batch submitted before from the same input: nothing new was written (`replayed` is true).", "headers": {"Location": {"description": "The batch's progress document.", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitOutcome"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "409": {"description": "`batch_key` names a batch submitted from other input.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "413": {"description": "The body is larger than the server's limit (`--max-body-bytes`, default 64 MiB).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "415": {"description": "The Content-Type is none of the above, or the body is not UTF-8.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "422": {"description": "The batch is invalid; `errors` lists every problem with its line (0: the batch). Nothing was written.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "503": {"description": "PostgreSQL is unavailable (nothing was written), or the batch was stored but Kafka did not take all of its jobs: then `batch_id` names it and `hint` says how to finish it; nothing is lost.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/v1/batches/{batch_id}": {
      "get": {
        "tags": ["batches"], "operationId": "getBatch", "summary": "A batch's progress (`ternflux status BATCH --json`)",
        "parameters": [{"$ref": "#/components/parameters/BatchID"}],
        "responses": {
          "200": {"description": "The progress document.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchProgress"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/batches/{batch_id}/jobs": {
      "get": {
        "tags": ["batches"], "operationId": "listBatchJobs", "summary": "A batch's jobs in line order",
        "parameters": [
          {"$ref": "#/components/parameters/BatchID"},
          {"name": "state", "in": "query", "description": "Only jobs in this state.", "schema": {"$ref": "#/components/schemas/JobState"}},
          {"name": "limit", "in": "query", "description": "How many jobs (default 100).", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
          {"name": "offset", "in": "query", "description": "How many jobs to skip (default 0).", "schema": {"type": "integer", "minimum": 0, "maximum": 10000000}}
        ],
        "responses": {
          "200": {"description": "One page of the batch's jobs, by line, then seed.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchJobs"}}},
                  "links": {"GetJob": {"operationId": "getJob", "parameters": {"job_id": "$response.body#/jobs/0/job_id"}}, "GetJobImage": {"operationId": "getJobImage", "parameters": {"job_id": "$response.body#/jobs/0/job_id"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/batches/{batch_id}/cancel": {
      "post": {
        "tags": ["batches"], "operationId": "cancelBatch", "summary": "Cancel a batch's queued and running jobs",
        "description": "Workers skip canceled jobs; one already running finishes, but its result is not recorded. Canceling again changes nothing. No body is read.",
        "parameters": [{"$ref": "#/components/parameters/BatchID"}],
        "responses": {
          "200": {"description": "The batch's progress after the cancel.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchProgress"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/jobs/{job_id}": {
      "get": {
        "tags": ["jobs"], "operationId": "getJob", "summary": "One job: its history entry, every error, its timings",
        "parameters": [{"$ref": "#/components/parameters/JobID"}],
        "responses": {
          "200": {"description": "The job.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobDetail"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/jobs/{job_id}/image": {
      "get": {
        "tags": ["jobs"], "operationId": "getJobImage", "summary": "A succeeded job's PNG",
        "description": "Read from the job's own path under the server's output root (`BATCH/JOB.png` under `--output`), never from the path its row records; a symbolic link there is not followed.",
        "parameters": [{"$ref": "#/components/parameters/JobID"}],
        "responses": {
          "200": {"description": "The image.", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"description": "No such job, the job has no image (it has not succeeded), or its file is not under the output root.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    }
  },
  "security": [{"bearerAuth": []}],
  "components": {
    "links": {
      "BatchFromSubmit": {"operationId": "getBatch", "parameters": {"batch_id": "$response.body#/batch_id"}, "description": "The submitted batch's progress."},
      "JobsFromSubmit": {"operationId": "listBatchJobs", "parameters": {"batch_id": "$response.body#/batch_id"}, "description": "The submitted batch's jobs."},
      "CancelFromSubmit": {"operationId": "cancelBatch", "parameters": {"batch_id": "$response.body#/batch_id"}, "description": "Cancel the submitted batch."}
    },
    "securitySchemes": {
      "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token from the server's tokens file: `read` for GET, `submit` for GET and POST."}
    },
    "parameters": {
      "BatchID": {"name": "batch_id", "in": "path", "required": true, "description": "A batch id.", "schema": {"type": "string", "format": "uuid"}},
      "JobID": {"name": "job_id", "in": "path", "required": true, "description": "A job id.", "schema": {"type": "string", "format": "uuid"}}
    },
    "responses": {
      "BadRequest": {"description": "A malformed path parameter, or a query parameter that is unknown, given twice or no value of its type; the message names it.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "No bearer token, or one the server does not know.", "headers": {"WWW-Authenticate": {"description": "The Bearer challenge.", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "A read token used for a POST; a request from another site's page (an Origin that is not this server); or, without tokens, a Host that is not this machine (localhost, 127.0.0.1, [::1]).", "headers": {"WWW-Authenticate": {"description": "The Bearer challenge (insufficient_scope).", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No such batch or job.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unavailable": {"description": "PostgreSQL is unavailable; try again.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {
        "type": "object", "additionalProperties": false, "required": ["error"],
        "properties": {
          "error": {
            "type": "object", "additionalProperties": false, "required": ["status", "message", "errors"],
            "properties": {
              "status": {"type": "integer", "description": "The HTTP status again."},
              "message": {"type": "string"},
              "errors": {"type": "array", "description": "A refused batch's problems, by line (0: the batch); empty for other errors.", "items": {"$ref": "#/components/schemas/LineError"}},
              "batch_id": {"type": "string", "format": "uuid", "description": "The batch stored in PostgreSQL whose jobs did not all reach Kafka."},
              "hint": {"type": "string", "description": "How to finish that batch."}
            }
          }
        }
      },
      "LineError": {
        "type": "object", "additionalProperties": false, "required": ["line", "message"],
        "properties": {
          "line": {"type": "integer", "minimum": 0, "description": "The line of the batch file (application/json: line N is jobs[N-1]); 0 is the batch itself."},
          "message": {"type": "string"}
        }
      },
      "JobState": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
      "Prompt": {
        "type": "string", "minLength": 1, "maxLength": 4096,
        "description": "At most 4096 characters (Unicode scalars), not only white space, no U+0000.",
        "pattern": "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000]*$"
      },
      "NegativePrompt": {"type": "string", "maxLength": 4096, "pattern": "^[^\\u0000]*$", "description": "May be empty (the empty prompt); no U+0000.", "nullable": true},
      "ModelName": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", "description": "No control characters.", "nullable": true},
      "Seed": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 9223372036854775807, "nullable": true},
      "Side": {"type": "integer", "minimum": 16, "maximum": 2048, "multipleOf": 16, "nullable": true},
      "Steps": {"type": "integer", "minimum": 1, "maximum": 100, "nullable": true},
      "Guidance": {"type": "number", "minimum": 0, "maximum": 30, "nullable": true},
      "TrueCFGScale": {"type": "number", "minimum": 1, "maximum": 50, "nullable": true},
      "Images": {"type": "integer", "minimum": 1, "maximum": 64, "nullable": true},
      "JobLine": {
        "type": "object", "additionalProperties": false, "required": ["prompt"],
        "description": "One line of a batch: a prompt and the settings it sets (null or absent: the batch's, then the model's). `images` N makes N jobs with seeds seed … seed+N−1, which must stay within the seed range.",
        "properties": {
          "prompt": {"$ref": "#/components/schemas/Prompt"},
          "seed": {"$ref": "#/components/schemas/Seed"},
          "width": {"$ref": "#/components/schemas/Side"},
          "height": {"$ref": "#/components/schemas/Side"},
          "steps": {"$ref": "#/components/schemas/Steps"},
          "guidance": {"$ref": "#/components/schemas/Guidance"},
          "model": {"$ref": "#/components/schemas/ModelName"},
          "negative_prompt": {"$ref": "#/components/schemas/NegativePrompt"},
          "true_cfg_scale": {"$ref": "#/components/schemas/TrueCFGScale"},
          "images": {"$ref": "#/components/schemas/Images"}
        }
      },
      "BatchDefaults": {
        "type": "object", "additionalProperties": false, "nullable": true,
        "description": "Settings of the lines that leave them out (submit's flags).",
        "properties": {
          "seed": {"$ref": "#/components/schemas/Seed"},
          "width": {"$ref": "#/components/schemas/Side"},
          "height": {"$ref": "#/components/schemas/Side"},
          "steps": {"$ref": "#/components/schemas/Steps"},
          "guidance": {"$ref": "#/components/schemas/Guidance"},
          "model": {"$ref": "#/components/schemas/ModelName"},
          "negative_prompt": {"$ref": "#/components/schemas/NegativePrompt"},
          "true_cfg_scale": {"$ref": "#/components/schemas/TrueCFGScale"},
          "images": {"$ref": "#/components/schemas/Images"},
          "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100, "nullable": true}
        }
      },
      "WebhookURL": {"type": "string", "minLength": 10, "maxLength": 2048, "pattern": "^https?://[^/?#\\s]+[^\\s]*$", "description": "An absolute http or https URL with a host."},
      "BatchSubmission": {
        "type": "object", "additionalProperties": false, "required": ["jobs"],
        "properties": {
          "name": {"type": "string", "maxLength": 200, "pattern": "^[^\\u0000]*$", "nullable": true, "description": "Default `api`."},
          "batch_key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", "nullable": true, "description": "Idempotency key: no control characters."},
          "webhook_url": {"allOf": [{"$ref": "#/components/schemas/WebhookURL"}], "nullable": true, "description": "POST the batch summary here once every job is finished."},
          "defaults": {"$ref": "#/components/schemas/BatchDefaults"},
          "jobs": {"type": "array", "minItems": 1, "description": "jobs[N-1] is line N.", "items": {"$ref": "#/components/schemas/JobLine"}}
        }
      },
      "SubmitOutcome": {
        "type": "object", "additionalProperties": false, "required": ["batch_id", "jobs", "replayed", "produced"],
        "properties": {
          "batch_id": {"type": "string", "format": "uuid"},
          "jobs": {"type": "integer", "minimum": 0, "description": "The batch's jobs."},
          "replayed": {"type": "boolean", "description": "True when batch_key named a batch submitted before from the same input."},
          "produced": {"type": "integer", "minimum": 0, "description": "Jobs this request produced to Kafka."}
        }
      },
      "BatchProgress": {
        "type": "object", "additionalProperties": false,
        "description": "A row of the batch_progress view (docs/sql.md), as `ternflux status BATCH --json` prints it. Absent fields are unknown yet.",
        "required": ["batch_id", "name", "created_at", "total", "queued", "running", "succeeded", "failed", "canceled", "finished"],
        "properties": {
          "batch_id": {"type": "string", "format": "uuid"},
          "name": {"type": "string"},
          "created_at": {"type": "string", "format": "date-time"},
          "canceled_at": {"type": "string", "format": "date-time"},
          "total": {"type": "integer", "minimum": 0},
          "queued": {"type": "integer", "minimum": 0},
          "running": {"type": "integer", "minimum": 0},
          "succeeded": {"type": "integer", "minimum": 0},
          "failed": {"type": "integer", "minimum": 0},
          "canceled": {"type": "integer", "minimum": 0},
          "finished": {"type": "boolean", "description": "No job is queued or running."},
          "p50_latency_ms": {"type": "number"},
          "p95_latency_ms": {"type": "number"},
          "p50_generation_ms": {"type": "number"},
          "p95_generation_ms": {"type": "number"},
          "first_started_at": {"type": "string", "format": "date-time"},
          "last_finished_at": {"type": "string", "format": "date-time"},
          "images_per_second": {"type": "number"}
        }
      },
      "BatchList": {
        "type": "object", "additionalProperties": false, "required": ["batches"],
        "properties": {"batches": {"type": "array", "items": {"$ref": "#/components/schemas/BatchProgress"}}}
      },
      "JobHistoryEntry": {
        "type": "object", "additionalProperties": false,
        "description": "A row of the job_history view (docs/sql.md). Width, height, steps, guidance, negative prompt and true CFG scale are absent until a worker claims a job that left them to its model.",
        "required": ["job_id", "batch_id", "batch_name", "state", "attempt", "prompt", "seed", "model", "created_at", "error_count"],
        "properties": {
          "job_id": {"type": "string", "format": "uuid"},
          "batch_id": {"type": "string", "format": "uuid"},
          "batch_name": {"type": "string"},
          "line": {"type": "integer"},
          "state": {"$ref": "#/components/schemas/JobState"},
          "attempt": {"type": "integer", "minimum": 0},
          "prompt": {"type": "string"},
          "seed": {"type": "integer", "format": "int64"},
          "width": {"type": "integer"},
          "height": {"type": "integer"},
          "steps": {"type": "integer"},
          "guidance": {"type": "number"},
          "negative_prompt": {"type": "string"},
          "true_cfg_scale": {"type": "number"},
          "model": {"type": "string"},
          "worker_id": {"type": "string"},
          "created_at": {"type": "string", "format": "date-time"},
          "started_at": {"type": "string", "format": "date-time"},
          "finished_at": {"type": "string", "format": "date-time"},
          "latency_ms": {"type": "number", "description": "Enqueue (or creation) to finish."},
          "error_count": {"type": "integer", "minimum": 0},
          "last_error": {"type": "string"},
          "output_uri": {"type": "string", "description": "Where the worker wrote the image, as it recorded it."},
          "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
          "bytes": {"type": "integer", "format": "int64"},
          "total_ms": {"type": "number", "description": "The worker's time for the successful attempt."}
        }
      },
      "BatchJobs": {
        "type": "object", "additionalProperties": false, "required": ["batch_id", "limit", "offset", "jobs"],
        "properties": {
          "batch_id": {"type": "string", "format": "uuid"},
          "state": {"$ref": "#/components/schemas/JobState"},
          "limit": {"type": "integer"},
          "offset": {"type": "integer"},
          "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/JobHistoryEntry"}}
        }
      },
      "JobErrorEntry": {
        "type": "object", "additionalProperties": false, "required": ["attempt", "at", "message", "terminal"],
        "properties": {
          "attempt": {"type": "integer"},
          "at": {"type": "string", "description": "When the attempt failed."},
          "worker_id": {"type": "string"},
          "message": {"type": "string"},
          "terminal": {"type": "boolean", "description": "True when the error ended the job for good."}
        }
      },
      "JobPhaseTimings": {
        "type": "object", "additionalProperties": false, "nullable": true,
        "description": "The successful attempt's phases in milliseconds (a row of job_timings); null until the job succeeds.",
        "required": ["queue_wait_ms", "tokenize_encode_ms", "denoise_ms", "denoise_step_ms", "vae_decode_ms", "png_encode_ms", "store_ms", "total_ms", "peak_rss_bytes", "attempt", "worker_id"],
        "properties": {
          "queue_wait_ms": {"type": "number"},
          "tokenize_encode_ms": {"type": "number"},
          "denoise_ms": {"type": "number"},
          "denoise_step_ms": {"type": "array", "items": {"type": "number"}},
          "vae_decode_ms": {"type": "number"},
          "png_encode_ms": {"type": "number"},
          "store_ms": {"type": "number"},
          "total_ms": {"type": "number"},
          "peak_rss_bytes": {"type": "integer", "format": "int64"},
          "attempt": {"type": "integer"},
          "worker_id": {"type": "string"}
        }
      },
      "JobDetail": {
        "type": "object", "additionalProperties": false,
        "description": "A JobHistoryEntry with the job's attempts limit, all its errors (oldest first) and its timings.",
        "required": ["job_id", "batch_id", "batch_name", "state", "attempt", "prompt", "seed", "model", "created_at", "error_count", "max_attempts", "errors", "timings"],
        "properties": {
          "job_id": {"type": "string", "format": "uuid"},
          "batch_id": {"type": "string", "format": "uuid"},
          "batch_name": {"type": "string"},
          "line": {"type": "integer"},
          "state": {"$ref": "#/components/schemas/JobState"},
          "attempt": {"type": "integer", "minimum": 0},
          "prompt": {"type": "string"},
          "seed": {"type": "integer", "format": "int64"},
          "width": {"type": "integer"},
          "height": {"type": "integer"},
          "steps": {"type": "integer"},
          "guidance": {"type": "number"},
          "negative_prompt": {"type": "string"},
          "true_cfg_scale": {"type": "number"},
          "model": {"type": "string"},
          "worker_id": {"type": "string"},
          "created_at": {"type": "string", "format": "date-time"},
          "started_at": {"type": "string", "format": "date-time"},
          "finished_at": {"type": "string", "format": "date-time"},
          "latency_ms": {"type": "number"},
          "error_count": {"type": "integer", "minimum": 0},
          "last_error": {"type": "string"},
          "output_uri": {"type": "string"},
          "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
          "bytes": {"type": "integer", "format": "int64"},
          "total_ms": {"type": "number"},
          "max_attempts": {"type": "integer", "minimum": 1},
          "errors": {"type": "array", "items": {"$ref": "#/components/schemas/JobErrorEntry"}},
          "timings": {"$ref": "#/components/schemas/JobPhaseTimings"}
        }
      }
    }
  }
}
"""#
}
