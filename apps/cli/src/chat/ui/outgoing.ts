/**
 * Your own messages until the server's broadcast of them arrives: pending (sending or waiting
 * for the connection), confirmed (acknowledged, so stored), or failed with the way to retry.
 */
import { Box, Text } from "ink"
import { safeMultiline, safeText } from "../../shared/safe-text.ts"
import type { Outgoing } from "../state.ts"
import { h } from "./h.ts"

const badge = (o: Outgoing) => {
  switch (o.status) {
    case "pending":
      return h(Text, { color: "gray" }, o.sent ? " … sending" : " … waiting for the connection")
    case "confirmed":
      return h(Text, { color: "green" }, " ✓ sent")
    case "failed":
      return h(Text, { color: "red" }, ` ✗ not sent (${o.error ?? "failed"}): Ctrl-R or /retry`)
  }
}

export const OutgoingList = (props: { readonly items: ReadonlyArray<Outgoing>; readonly username: string }) =>
  props.items.length === 0
    ? null
    : h(
        Box,
        { flexDirection: "column" },
        ...props.items.map((o) =>
          h(
            Box,
            { key: o.client_msg_id, flexDirection: "row" },
            h(Text, { dimColor: true }, `${safeText(props.username)} `),
            h(
              Box,
              { flexShrink: 1 },
              h(Text, { dimColor: o.status !== "failed", wrap: "wrap" }, safeMultiline(o.text))
            ),
            badge(o)
          )
        )
      )
