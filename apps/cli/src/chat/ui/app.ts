/**
 * The chat screen: the printed log (`<Static>`) above a short live area (room list, help,
 * scrollback, or your unsent messages and the typing line), the status and notice lines, and
 * the input. It reads the controller's state and calls it; it holds no chat logic itself.
 */
import { Box, type Key, useWindowSize } from "ink"
import { useSyncExternalStore } from "react"
import type { ChatController } from "../controller.ts"
import { outgoingHere, typingLine } from "../state.ts"
import { h } from "./h.ts"
import { HelpScreen } from "./help.ts"
import { Input } from "./input.ts"
import { MessageLog } from "./message-list.ts"
import { OutgoingList } from "./outgoing.ts"
import { RoomList } from "./rooms.ts"
import { ScrollbackView, visibleCount } from "./scrollback.ts"
import { NoticeLine, StatusBar } from "./status.ts"
import { TypingLine } from "./typing.ts"

/** Rows kept for the status, notice and input lines and the scrollback frame. */
const chrome = 6

export const ChatApp = (props: { readonly controller: ChatController }) => {
  const { controller } = props
  const state = useSyncExternalStore(controller.subscribe, controller.getState)
  const size = useWindowSize()
  const rows = size.rows > 0 ? size.rows : 24
  const columns = size.columns > 0 ? size.columns : 80
  const windowHeight = Math.max(3, rows - chrome)

  const step = () =>
    state.scrollback === null
      ? visibleCount(state.messages, state.messages.length, windowHeight, columns)
      : visibleCount(state.messages, state.scrollback.end, windowHeight, columns)

  const onKey = (input: string, key: Key, value: string) => {
    if (key.ctrl && input === "c") {
      controller.quit()
      return true
    }
    if (state.help) {
      controller.help(false)
      return true
    }
    if (input === "?" && value.length === 0) {
      controller.help(true)
      return true
    }
    if (key.ctrl && input === "r") {
      controller.retry()
      return true
    }
    if (key.pageUp) {
      controller.scrollUp(step())
      return true
    }
    if (key.pageDown) {
      controller.scrollDown(step())
      return true
    }
    if (key.escape) {
      controller.closeScrollback()
      return true
    }
    if (state.screen === "rooms" && value.length === 0) {
      if (key.upArrow || key.downArrow) {
        controller.selectRoom(key.upArrow ? -1 : 1)
        return true
      }
      if (key.return) {
        controller.openSelected()
        return true
      }
    }
    return false
  }

  const live = state.help
    ? h(HelpScreen)
    : state.screen === "rooms"
      ? h(RoomList, { ...state.rooms, height: windowHeight })
      : state.scrollback !== null
        ? h(ScrollbackView, {
            messages: state.messages,
            scrollback: state.scrollback,
            me: state.me,
            height: windowHeight,
            columns
          })
        : h(
            Box,
            { flexDirection: "column" },
            h(OutgoingList, { items: outgoingHere(state), username: state.me.username }),
            h(TypingLine, { text: typingLine(state) })
          )

  return h(
    Box,
    { flexDirection: "column" },
    h(MessageLog, { items: state.log }),
    live,
    h(NoticeLine, { notice: state.notice }),
    h(StatusBar, { state }),
    h(Input, {
      ...(state.screen === "rooms" ? { placeholder: " type /join NAME, /create NAME, or ? for help" } : {}),
      onKey,
      onChange: (value: string) => controller.inputChanged(value),
      onSubmit: (value: string) => controller.submit(value)
    })
  )
}
